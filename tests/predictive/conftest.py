import pytest


@pytest.fixture(autouse=True, scope="session")
def _one_blas_thread():
    """Tiny fits: OpenMP/BLAS threads only spin against each other (6x slower on 2 busy cores)."""
    from threadpoolctl import threadpool_limits

    with threadpool_limits(limits=1):
        yield
