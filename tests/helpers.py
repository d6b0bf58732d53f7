"""Small helpers shared by the training-loop tests (tests/ is on sys.path under pytest)."""
from configs import config_path, load_config, replace


def tiny(**train):
    """The tiny test configuration, with train_params overrides."""
    config = load_config(config_path("tiny"))
    return replace(config, train_params=train) if train else config


def quiet(*_):
    """A log function that prints nothing."""
