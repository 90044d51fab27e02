from django.http import HttpRequest
from rest_framework.request import Request

from leadflow.exceptions import PermissionDeniedError
from leadflow.models import User


def request_user(request: Request | HttpRequest) -> User:
    """The authenticated user of a request (views are behind IsAuthenticated/login_required)."""
    user = request.user
    if not isinstance(user, User):
        raise PermissionDeniedError("Log in first.")
    return user
