import pytest

from real3d.synth import TextureBank, generate_sequence


@pytest.fixture(scope="session")
def bank():
    return TextureBank(0, size=64)


@pytest.fixture(scope="session")
def home_seq(bank):
    return generate_sequence(7, 6, size=(60, 80), kind="home", noise=True, bank=bank)


@pytest.fixture(scope="session")
def clean_seq(bank):
    return generate_sequence(3, 4, size=(60, 80), kind="home", noise=False, bank=bank)
