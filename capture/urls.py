"""The marketer's pages: /capture/… (forms, their builder, submissions, rejections, analytics)."""

from django.urls import path

app_name = "capture"

urlpatterns: list = []
