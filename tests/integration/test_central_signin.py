"""The central station follows the same sign-in rule as the bedside pages."""

from monitor.cli.main import main


def test_central_refuses_a_network_address_without_sign_in(capsys):
    assert main(["central", "--broker", "mqtt://127.0.0.1:1883", "--host", "0.0.0.0"]) == 2
    assert "without sign-in" in capsys.readouterr().err


def test_central_says_when_the_users_file_is_missing(tmp_path, capsys):
    missing = tmp_path / "nope"
    assert main(["central", "--broker", "mqtt://127.0.0.1:1883", "--users", str(missing)]) == 2
    assert str(missing) in capsys.readouterr().err
