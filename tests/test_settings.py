"""Settings: keys kept secret, base URLs normalised or refused with the fix, modes, timeouts."""

from __future__ import annotations

import copy
import pickle
import warnings

import pytest

from nvnb import settings as nvs
from nvnb.errors import ConfigurationError
from nvnb.settings import (
    HOSTED_BASE_URL,
    NVCF_BASE_URL,
    KeyFormatWarning,
    RetryPolicy,
    Secret,
    Timeouts,
    normalize_base_url,
    resolve_settings,
)

KEY = "nvapi-test-sentinel-key-0123456789"
ENV = ("NVIDIA_API_KEY", "NVIDIA_BASE_URL", "NVNB_LOCAL", "NVNB_HOSTED_ORIGIN")


@pytest.fixture(autouse=True)
def clean_env(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ENV:  # set-then-delete so monkeypatch restores whatever a test sets
        monkeypatch.setenv(name, "x")
        monkeypatch.delenv(name)
    nvs._warned_keys.clear()


# --- base URLs ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("given", "expected"),
    [
        ("http://localhost:8000", "http://localhost:8000/v1"),
        ("http://localhost:8000/", "http://localhost:8000/v1"),
        ("http://localhost:8000/v1", "http://localhost:8000/v1"),
        ("http://localhost:8000/v1/", "http://localhost:8000/v1"),
        ("https://proxy/nim", "https://proxy/nim/v1"),
        ("https://proxy.example.com/team/nim/v1", "https://proxy.example.com/team/nim/v1"),
        ("  HTTPS://Integrate.API.nvidia.com/v1  ", "https://integrate.api.nvidia.com/v1"),
        ("http://[::1]:9000", "http://[::1]:9000/v1"),
    ],
)
def test_base_urls_are_normalised_to_end_in_v1(given: str, expected: str) -> None:
    assert normalize_base_url(given) == expected


@pytest.mark.parametrize(
    ("given", "fixed"),
    [
        (
            "https://integrate.api.nvidia.com/v1/chat/completions",
            "https://integrate.api.nvidia.com/v1",
        ),
        ("http://localhost:8000/v1/models", "http://localhost:8000/v1"),
        ("http://localhost:8000/v1/embeddings/", "http://localhost:8000/v1"),
        ("https://proxy/nim/v1/completions", "https://proxy/nim/v1"),
        ("http://h:1/v1?api-version=2", "http://h:1/v1"),
        ("http://h:1/v1#top", "http://h:1/v1"),
        ("localhost:8000", "http://localhost:8000/v1"),
        ("ftp://h/v1", "https://h/v1"),
    ],
)
def test_bad_base_urls_are_refused_with_the_corrected_url(given: str, fixed: str) -> None:
    with pytest.raises(ConfigurationError) as info:
        normalize_base_url(given)
    assert repr(fixed) in str(info.value)


def test_a_base_url_with_credentials_is_refused_without_echoing_the_password() -> None:
    with pytest.raises(ConfigurationError) as info:
        normalize_base_url("https://user:hunter2secret@proxy.example.com/nim")
    text = str(info.value)
    assert "hunter2secret" not in text and "user:" not in text
    assert "'https://proxy.example.com/nim/v1'" in text


def test_an_empty_base_url_is_refused() -> None:
    with pytest.raises(ConfigurationError):
        normalize_base_url("  ")


# --- keys and modes ----------------------------------------------------------------------


def test_a_key_alone_goes_to_the_hosted_service() -> None:
    s = resolve_settings(api_key=KEY)
    assert s.base_url == HOSTED_BASE_URL
    assert s.mode == "hosted" and s.is_hosted
    assert s.nvcf_url == NVCF_BASE_URL
    assert s.api_key is not None and s.api_key.get_secret_value() == KEY


def test_the_key_comes_from_the_argument_then_the_alias_then_the_environment(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("NVIDIA_API_KEY", "nvapi-from-env")
    assert resolve_settings().api_key.get_secret_value() == "nvapi-from-env"
    assert resolve_settings(nvidia_api_key="nvapi-alias").api_key.get_secret_value() == (
        "nvapi-alias"
    )
    assert resolve_settings(api_key="nvapi-arg").api_key.get_secret_value() == "nvapi-arg"


def test_a_pasted_key_loses_its_surrounding_whitespace() -> None:
    s = resolve_settings(api_key=f"  {KEY}\n")
    assert s.api_key.get_secret_value() == KEY


def test_the_base_url_comes_from_the_argument_then_the_environment(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("NVIDIA_BASE_URL", "http://nim.internal:8000")
    s = resolve_settings()
    assert s.base_url == "http://nim.internal:8000/v1"
    assert s.mode == "self-hosted"
    assert resolve_settings(base_url="http://other:1").base_url == "http://other:1/v1"


def test_hosted_and_self_hosted_are_told_apart_by_the_host() -> None:
    assert resolve_settings(KEY, "https://ai.api.nvidia.com/v1").mode == "hosted"
    assert resolve_settings(KEY, "https://integrate.api.nvidia.com").mode == "hosted"
    assert resolve_settings(KEY, "https://nvidia.com.evil.example/v1").mode == "self-hosted"
    assert resolve_settings(None, "http://127.0.0.1:8000").mode == "self-hosted"


def test_a_self_hosted_proxy_keeps_its_prefix_for_nvcf_paths() -> None:
    s = resolve_settings(None, "https://proxy.example.com/nim")
    assert s.base_url == "https://proxy.example.com/nim/v1"
    assert s.nvcf_url == "https://proxy.example.com/nim/v2/nvcf"


def test_no_key_and_no_base_url_means_the_local_server() -> None:
    s = resolve_settings(start_local=False)
    assert s.mode == "local"
    assert s.api_key is None


def test_nvnb_local_off_without_a_key_is_a_clear_error(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("NVNB_LOCAL", "off")
    with pytest.raises(ConfigurationError) as info:
        resolve_settings()
    assert "NVIDIA_API_KEY" in str(info.value)
    assert "NVNB_LOCAL=off" in str(info.value)


def test_nvnb_local_off_does_not_matter_with_a_key(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("NVNB_LOCAL", "off")
    assert resolve_settings(api_key=KEY).mode == "hosted"


def test_hosted_origin_moves_hosted_urls_onto_it() -> None:
    s = resolve_settings(api_key=KEY, hosted_origin="http://127.0.0.1:9999/")
    assert s.base_url == "http://127.0.0.1:9999/v1"
    assert s.mode == "hosted"
    assert s.nvcf_url == "http://127.0.0.1:9999/v2/nvcf"
    assert s.rewrite_hosted("https://ai.api.nvidia.com/v1/vlm/nvidia/neva-22b") == (
        "http://127.0.0.1:9999/v1/vlm/nvidia/neva-22b"
    )
    assert s.rewrite_hosted("https://s3.example.com/upload?sig=1") == (
        "https://s3.example.com/upload?sig=1"
    )


def test_the_hosted_origin_can_come_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("NVNB_HOSTED_ORIGIN", "http://127.0.0.1:7777")
    s = resolve_settings(api_key=KEY)
    assert s.hosted_origin == "http://127.0.0.1:7777"
    assert s.base_url == "http://127.0.0.1:7777/v1"


# --- the key stays secret ----------------------------------------------------------------


def test_a_malformed_key_on_the_hosted_service_warns_showing_at_most_five_characters() -> None:
    bad = "sk-proj-abcdefghijklmnopqrstuvwxyz"
    with pytest.warns(KeyFormatWarning) as record:
        resolve_settings(api_key=bad)
    text = str(record[0].message)
    assert "nvapi-" in text
    assert bad[:5] in text and bad[:6] not in text


def test_the_malformed_key_warning_points_at_the_callers_line() -> None:
    from nvnb.client import Client

    with pytest.warns(KeyFormatWarning) as record:
        Client(api_key="sk-wrong-format-key-12345")
    assert record[0].filename == __file__


def test_a_short_malformed_key_shows_even_less() -> None:
    with pytest.warns(KeyFormatWarning) as record:
        resolve_settings(api_key="abcdef")
    assert "abcdef"[:3] not in str(record[0].message)


def test_a_malformed_key_warns_once_and_never_for_self_hosted_servers() -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        resolve_settings(api_key="local-token-xyz", base_url="http://nim.internal:8000")
        resolve_settings(api_key=KEY)
    with pytest.warns(KeyFormatWarning):
        resolve_settings(api_key="bad-key-123456789")
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        resolve_settings(api_key="bad-key-123456789")


def test_a_secret_never_shows_itself() -> None:
    secret = Secret(KEY)
    for text in (repr(secret), str(secret), f"{secret}", f"{secret!r}", f"{secret:>40}"):
        assert KEY not in text
    assert secret == Secret(KEY) and secret != Secret("nvapi-other")
    assert copy.deepcopy(secret) is secret


def test_settings_repr_does_not_show_the_key() -> None:
    s = resolve_settings(api_key=KEY)
    assert KEY not in repr(s) and KEY not in str(s)


def test_a_pickled_key_is_dropped_and_the_loading_process_key_used(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    s = resolve_settings(api_key=KEY)
    data = pickle.dumps(s)
    assert KEY.encode() not in data
    assert pickle.loads(data).api_key is None
    monkeypatch.setenv("NVIDIA_API_KEY", "nvapi-other-process")
    assert pickle.loads(data).api_key.get_secret_value() == "nvapi-other-process"


def test_ask_for_key_prompts_with_getpass_and_sets_the_process_key(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    prompts = []
    monkeypatch.setattr(nvs.getpass, "getpass", lambda p: prompts.append(p) or f" {KEY} ")
    nvs.ask_for_key()
    assert prompts and "key" in prompts[0].lower()
    s = resolve_settings()
    assert s.mode == "hosted" and s.api_key.get_secret_value() == KEY


def test_ask_for_key_with_nothing_entered_changes_nothing(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(nvs.getpass, "getpass", lambda p: "")
    with pytest.raises(ConfigurationError):
        nvs.ask_for_key()
    assert resolve_settings(start_local=False).mode == "local"


def test_ask_for_key_warns_about_a_malformed_key(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(nvs.getpass, "getpass", lambda p: "not-a-key-1234567")
    with pytest.warns(KeyFormatWarning):
        nvs.ask_for_key()


# --- timeouts, retries, TLS ---------------------------------------------------------------


def test_a_number_sets_every_http_timeout_but_not_the_poll_deadline() -> None:
    t = resolve_settings(api_key=KEY, timeout=2.5).timeout
    assert (t.connect, t.read, t.write, t.pool) == (2.5, 2.5, 2.5, 2.5)
    assert t.poll_deadline == Timeouts().poll_deadline


def test_timeouts_and_retry_policies_are_settings() -> None:
    s = resolve_settings(
        api_key=KEY,
        timeout=Timeouts(read=0.05, poll_deadline=0.2),
        retry=RetryPolicy(backoff_base=0.001, budget=0.5),
        max_retries=5,
    )
    assert s.timeout.read == 0.05 and s.timeout.poll_deadline == 0.2
    assert s.retry.backoff_base == 0.001 and s.retry.max_retries == 5


@pytest.mark.parametrize("bad", [0, -1, "soon"])
def test_a_bad_timeout_is_refused(bad: object) -> None:
    with pytest.raises(ConfigurationError):
        resolve_settings(api_key=KEY, timeout=bad)


def test_negative_retries_are_refused() -> None:
    with pytest.raises(ConfigurationError):
        resolve_settings(api_key=KEY, max_retries=-1)


def test_verify_ssl_takes_a_bool_or_an_existing_ca_bundle(tmp_path) -> None:
    bundle = tmp_path / "ca.pem"
    bundle.write_text("")
    assert resolve_settings(api_key=KEY, verify_ssl=False).verify_ssl is False
    assert resolve_settings(api_key=KEY, verify_ssl=str(bundle)).verify_ssl == str(bundle)
    with pytest.raises(ConfigurationError):
        resolve_settings(api_key=KEY, verify_ssl=str(tmp_path / "missing.pem"))


# --- describe ------------------------------------------------------------------------------


def test_describe_says_where_requests_go_in_one_line_without_the_key() -> None:
    hosted = resolve_settings(api_key=KEY).describe()
    assert hosted == "NVIDIA's hosted catalog at https://integrate.api.nvidia.com/v1 (key set)"
    nim = resolve_settings(base_url="http://nim.internal:8000").describe()
    assert nim == "a self-hosted NIM at http://nim.internal:8000/v1 (no key)"
    local = resolve_settings(start_local=False).describe()
    assert local.startswith("nvnb's local server") and "no NVIDIA_API_KEY" in local
    played = resolve_settings(api_key=KEY, hosted_origin="http://127.0.0.1:5").describe()
    assert "http://127.0.0.1:5/v1" in played
    for line in (hosted, nim, local, played):
        assert "\n" not in line and KEY not in line and "nvapi" not in line


def test_only_a_nim_of_ones_own_is_self_hosted() -> None:
    nim = resolve_settings(base_url="http://127.0.0.1:9/v1", start_local=False)
    assert nim.mode == "self-hosted" and nim.is_self_hosted and not nim.is_hosted
    hosted = resolve_settings(api_key=KEY, start_local=False)
    assert hosted.is_hosted and not hosted.is_self_hosted
