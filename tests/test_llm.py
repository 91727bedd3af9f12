"""The LLM layer against a loopback OpenAI-compatible stub, with the real ``openai`` client."""

from __future__ import annotations

import json
import os
import time
import tomllib
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest
from pydantic import BaseModel

from agents.llm import (
    LLM,
    CachedLLM,
    LLMConfigError,
    LLMError,
    OpenAIClient,
    ReplayClient,
    RetryPolicy,
    ScriptedLLM,
    complete_json,
    parse_json,
    request_key,
    resolve_settings,
)
from workbench.errors import AgentOutputError, WorkbenchError
from workbench.runs.store import ItemSpec, Outcome, RunStore

if TYPE_CHECKING:
    from llm_stub import LLMStub


KEY = "sk-test-0123456789abcdef"
USER = [{"role": "user", "content": "Maximise 3x + 2y subject to x + y <= 4."}]
CALL_COLUMNS = {"model", "prompt", "response", "prompt_tokens", "completion_tokens", "latency",
                "cost", "cache_key", "attempt"}  # fmt: skip


class Plan(BaseModel):
    x: float
    y: float


@pytest.fixture(autouse=True)
def _no_llm_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """No test sees the developer's endpoint, key or config file."""
    for var in ("OPENAI_BASE_URL", "OPENAI_API_KEY", "WORKBENCH_MODEL"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("WORKBENCH_HOME", str(tmp_path / "home"))


def client(stub: LLMStub, **kw: Any) -> OpenAIClient:
    kw.setdefault("timeout", 5.0)
    kw.setdefault("backoff", (0.0, 1.0))
    c = OpenAIClient(model="stub-model", base_url=stub.url, api_key=KEY, **kw)
    c.sleep = lambda seconds: None  # back-off waits are checked with recorded_waits
    return c


def recorded_waits(c: OpenAIClient) -> list[float]:
    waits: list[float] = []
    c.sleep = waits.append
    return waits


# ---------------------------------------------------------------- plain calls
def test_plain_completion_usage_and_call_log(llm_stub: LLMStub) -> None:
    llm_stub.reply("x = 3, y = 1")
    c = client(llm_stub, prices={"stub-model": (1.0, 2.0)})
    out = c.complete(USER, temperature=0.2, max_tokens=64)
    assert out.text == "x = 3, y = 1" and out.finish_reason == "stop"
    u = out.usage
    pt, ct = len(USER[0]["content"]) // 4, len(out.text) // 4
    assert (u.prompt_tokens, u.completion_tokens, u.estimated) == (pt, ct, False)
    assert u.cost == pytest.approx((pt * 1.0 + ct * 2.0) / 1000)
    assert u.latency_s > 0 and u.attempts == 1 and not u.cached and u.model == "stub-model"
    body = llm_stub.chat_requests[0].body
    assert body["messages"] == USER and body["temperature"] == 0.2 and body["max_tokens"] == 64
    assert body["model"] == "stub-model" and "response_format" not in body
    assert len(c.calls) == 1 and set(c.calls[0]) == CALL_COLUMNS
    assert c.calls[0]["prompt"] == USER and c.calls[0]["response"] == out.text
    assert c.calls.tokens == pt + ct
    with c.calls.at_attempt(2):
        llm_stub.reply("again")
        c.complete(USER)
    assert [r["attempt"] for r in c.calls] == [None, 2]


def test_missing_usage_is_estimated(llm_stub: LLMStub) -> None:
    llm_stub.reply("a" * 40, usage=None)
    u = client(llm_stub).complete(USER).usage
    assert u.estimated and u.completion_tokens == 10
    assert u.prompt_tokens == len(USER[0]["content"]) // 4


def test_models_endpoint(llm_stub: LLMStub) -> None:
    assert client(llm_stub).list_models() == ["stub-model"]


def test_bad_messages_are_rejected_before_sending(llm_stub: LLMStub) -> None:
    with pytest.raises(LLMError, match=r"messages\[0\]"):
        client(llm_stub).complete([{"role": "robot", "content": "hi"}])
    assert llm_stub.requests == []


# ---------------------------------------------------------------- retries
def test_429_then_success_honours_retry_after(llm_stub: LLMStub) -> None:
    llm_stub.error(429, "slow down", retry_after=0.05).reply("ok")
    c = client(llm_stub, backoff=(5.0, 2.0))  # Retry-After wins over the back-off
    waits = recorded_waits(c)
    out = c.complete(USER)
    assert out.text == "ok" and out.usage.attempts == 2
    assert waits == [0.05] and len(llm_stub.chat_requests) == 2


def test_retry_after_really_waits(llm_stub: LLMStub) -> None:
    llm_stub.error(429, retry_after=0.1).reply("ok")
    c = OpenAIClient(model="m", base_url=llm_stub.url, api_key=KEY, timeout=5)
    t0 = time.perf_counter()
    assert c.complete(USER).text == "ok"
    assert time.perf_counter() - t0 >= 0.1


def test_500_then_success_uses_seeded_backoff(llm_stub: LLMStub) -> None:
    llm_stub.error(500).error(503).reply("ok")
    c = client(llm_stub, backoff=(0.01, 2.0), seed=7)
    waits = recorded_waits(c)
    assert c.complete(USER).usage.attempts == 3
    expected = RetryPolicy(initial=0.01, factor=2.0, seed=7)
    assert waits == [expected.wait(0), expected.wait(1)]
    assert 0.0075 <= waits[0] <= 0.01 and 0.015 <= waits[1] <= 0.02


def test_persistent_500_raises_after_max_retries(llm_stub: LLMStub) -> None:
    for _ in range(3):
        llm_stub.error(500, "upstream exploded")
    c = client(llm_stub, max_retries=2)
    with pytest.raises(LLMError, match="HTTP 500: upstream exploded") as info:
        c.complete(USER)
    assert info.value.status == 500 and info.value.attempts == 3
    assert isinstance(info.value, WorkbenchError)
    assert len(llm_stub.chat_requests) == 3 and c.calls == []


def test_timeout_is_retried_then_fails(llm_stub: LLMStub) -> None:
    llm_stub.reply("late", delay=2.0).reply("on time")
    c = client(llm_stub, timeout=0.2, max_retries=1)
    out = c.complete(USER)
    assert out.text == "on time" and out.usage.attempts == 2
    llm_stub.reply("late", delay=2.0).reply("late", delay=2.0)
    with pytest.raises(LLMError, match="timed out after 2 request") as info:
        c.complete(USER)
    assert info.value.status is None and info.value.attempts == 2


def test_401_fails_at_once_and_never_shows_the_key(llm_stub: LLMStub) -> None:
    llm_stub.error(401, f"Incorrect API key provided: {KEY}")
    c = client(llm_stub)
    with pytest.raises(LLMError) as info:
        c.complete(USER)
    err = info.value
    assert err.status == 401 and err.attempts == 1 and len(llm_stub.chat_requests) == 1
    assert KEY not in str(err) and KEY not in repr(err) and "check the API key" in str(err)
    assert err.__cause__ is None and err.__suppress_context__
    assert llm_stub.chat_requests[0].headers["authorization"] == f"Bearer {KEY}"
    assert KEY not in repr(c) and KEY not in str(vars(c).get("_key"))
    assert KEY not in repr(resolve_settings(model="m", base_url="http://127.0.0.1:1", api_key=KEY))


@pytest.mark.parametrize("status", [400, 404])
def test_client_errors_are_not_retried(llm_stub: LLMStub, status: int) -> None:
    llm_stub.error(status, "no such model").reply("never")
    with pytest.raises(LLMError, match=f"HTTP {status}"):
        client(llm_stub).complete(USER)
    assert llm_stub.pending == 1


# ---------------------------------------------------------------- structured output
def test_json_schema_accepted(llm_stub: LLMStub) -> None:
    llm_stub.json({"x": 3, "y": 1})
    c = client(llm_stub)
    plan, out = complete_json(c, USER, Plan)
    assert plan == Plan(x=3, y=1) and out.text == '{"x": 3, "y": 1}'
    rf = llm_stub.chat_requests[0].body["response_format"]
    assert rf["type"] == "json_schema" and rf["json_schema"]["name"] == "Plan"
    assert rf["json_schema"]["schema"] == Plan.model_json_schema()
    assert llm_stub.chat_requests[0].body["messages"] == USER  # no schema note needed


def test_json_schema_rejected_falls_back_to_json_object_then_text(llm_stub: LLMStub) -> None:
    llm_stub.reject_formats("json_schema", "json_object").json({"x": 1, "y": 2})
    c = client(llm_stub)
    plan, out = complete_json(c, USER, Plan)
    assert plan == Plan(x=1, y=2) and out.usage.attempts == 3
    sent = [r.body.get("response_format", {}).get("type") for r in llm_stub.chat_requests]
    assert sent == ["json_schema", "json_object", None]
    system = llm_stub.chat_requests[-1].body["messages"][0]
    assert system["role"] == "system" and '"x"' in system["content"]  # the schema is described
    assert c.json_level == "text"
    llm_stub.json({"x": 5, "y": 6})
    complete_json(c, USER, Plan)  # remembered: straight to text
    assert len(llm_stub.chat_requests) == 4
    assert "response_format" not in llm_stub.chat_requests[-1].body


def test_json_object_fallback_is_remembered(llm_stub: LLMStub) -> None:
    llm_stub.reject_formats("json_schema").json({"x": 1, "y": 2}).json({"x": 1, "y": 3})
    c = client(llm_stub)
    complete_json(c, USER, Plan)
    complete_json(c, USER, Plan)
    sent = [r.body.get("response_format", {}).get("type") for r in llm_stub.chat_requests]
    assert sent == ["json_schema", "json_object", "json_object"] and c.json_level == "json_object"


def test_fixed_json_mode_does_not_fall_back(llm_stub: LLMStub) -> None:
    llm_stub.reject_formats("json_schema")
    with pytest.raises(LLMError, match="HTTP 400.*response_format"):
        complete_json(client(llm_stub, json_mode="json_schema"), USER, Plan)


def test_max_completion_tokens_fallback(llm_stub: LLMStub) -> None:
    msg = "Unsupported parameter: 'max_tokens'. Use 'max_completion_tokens' instead."
    llm_stub.error(400, msg).reply("ok").reply("ok")
    c = client(llm_stub)
    assert c.complete(USER, max_tokens=50).usage.attempts == 2
    c.complete(USER, max_tokens=50)
    bodies = [r.body for r in llm_stub.chat_requests]
    assert [("max_tokens" in b, b.get("max_completion_tokens")) for b in bodies] == [
        (True, None), (False, 50), (False, 50)]  # fmt: skip


def test_truncated_json_raises_with_raw_text(llm_stub: LLMStub) -> None:
    llm_stub.truncated({"x": 3, "y": 1, "note": "a long explanation"})
    with pytest.raises(AgentOutputError, match="not valid JSON.*max_tokens") as info:
        complete_json(client(llm_stub), USER, Plan, max_tokens=8, length_retries=0)
    assert info.value.raw.startswith('{"x": 3') and len(info.value.raw) < 30


def test_a_reply_cut_at_max_tokens_is_asked_again_with_twice_the_budget(
    llm_stub: LLMStub,
) -> None:
    llm_stub.truncated({"x": 3, "y": 1}).truncated({"x": 3, "y": 1}).json({"x": 3, "y": 1})
    c = client(llm_stub)
    plan, done = complete_json(c, USER, Plan, max_tokens=1000)  # no repair try spent
    assert plan == Plan(x=3, y=1) and done.finish_reason == "stop"
    sent = [r.body["max_tokens"] for r in llm_stub.chat_requests]
    assert sent == [1000, 2000, 4000]
    assert all(r.body["messages"] == llm_stub.chat_requests[0].body["messages"]
               for r in llm_stub.chat_requests)  # fmt: skip


def test_cut_replies_count_as_one_failed_try_after_the_length_retries(llm_stub: LLMStub) -> None:
    for _ in range(3):
        llm_stub.truncated({"x": 3, "y": 1})
    llm_stub.json({"x": 4, "y": 1})
    plan, _ = complete_json(client(llm_stub), USER, Plan, max_tokens=300, retries=1)
    assert plan == Plan(x=4, y=1)
    assert [r.body["max_tokens"] for r in llm_stub.chat_requests] == [300, 600, 1200, 300]
    assert "not valid JSON" in llm_stub.chat_requests[-1].body["messages"][-1]["content"]


def test_a_reply_that_parses_although_cut_is_taken_as_it_is(llm_stub: LLMStub) -> None:
    llm_stub.json({"x": 3, "y": 1}, finish_reason="length")
    plan, _ = complete_json(client(llm_stub), USER, Plan, max_tokens=300)
    assert plan == Plan(x=3, y=1) and len(llm_stub.chat_requests) == 1


def test_a_think_block_before_the_json_is_not_part_of_the_answer(llm_stub: LLMStub) -> None:
    llm_stub.reply('<think>\nx must be 3 since {"x": 0} fails.\n</think>\n{"x": 3, "y": 1}')
    plan, done = complete_json(client(llm_stub), USER, Plan)
    assert plan == Plan(x=3, y=1) and done.text.startswith("<think>")
    with pytest.raises(AgentOutputError, match="not valid JSON"):  # only a leading block
        parse_json('{"x": 3, "y": 1} <think>late</think>', Plan)


def test_a_separate_reasoning_field_is_kept_and_not_parsed(llm_stub: LLMStub) -> None:
    llm_stub.reply('{"x": 3, "y": 1}', reasoning="Let me think: x = 3.")
    llm_stub.reply('{"x": 5, "y": 1}', reasoning="Other servers say reasoning.",
                   reasoning_field="reasoning")  # fmt: skip
    c = client(llm_stub)
    plan, done = complete_json(c, USER, Plan)
    assert plan == Plan(x=3, y=1) and done.reasoning == "Let me think: x = 3."
    plan, done = complete_json(c, USER, Plan)
    assert plan == Plan(x=5, y=1) and done.reasoning == "Other servers say reasoning."


def test_garbage_then_valid_with_retry(llm_stub: LLMStub) -> None:
    llm_stub.garbage("Sure! x is 3 and y is 1.").json({"x": 3, "y": 1})
    c = client(llm_stub)
    plan, _ = complete_json(c, USER, Plan, retries=1)
    assert plan == Plan(x=3, y=1) and len(c.calls) == 2
    second = llm_stub.chat_requests[1].body["messages"]
    assert second[-2] == {"role": "assistant", "content": "Sure! x is 3 and y is 1."}
    assert second[-1]["role"] == "user" and "not valid JSON" in second[-1]["content"]


def test_garbage_without_retry_is_not_salvaged(llm_stub: LLMStub) -> None:
    llm_stub.garbage('The answer is {"x": 3, "y": 1} as requested.')
    with pytest.raises(AgentOutputError) as info:
        complete_json(client(llm_stub), USER, Plan)
    assert info.value.raw == 'The answer is {"x": 3, "y": 1} as requested.'


def test_json_schema_dict_validation() -> None:
    schema = {"type": "object", "properties": {"x": {"type": "number"}}, "required": ["x"]}
    assert parse_json('{"x": 2}', schema) == {"x": 2}
    assert parse_json('```json\n{"x": 2}\n```', schema) == {"x": 2}  # a reply that is one fence
    with pytest.raises(AgentOutputError, match="at x"):
        parse_json('{"x": "two"}', schema)
    with pytest.raises(AgentOutputError, match="Plan"):
        parse_json('{"x": 1}', Plan)
    with pytest.raises(AgentOutputError, match="empty"):
        parse_json("  ", schema)


# ---------------------------------------------------------------- cache
def test_cache_hit_sends_no_second_request(llm_stub: LLMStub, tmp_path: Path) -> None:
    store = RunStore(tmp_path / "runs.db")
    llm_stub.reply("cached answer").reply("fresh answer")
    c = client(llm_stub, cache=store, prices={"stub-model": (1.0, 1.0)})
    first = c.complete(USER)
    second = c.complete(USER)
    assert len(llm_stub.chat_requests) == 1
    assert second.text == "cached answer" and second.usage.cached and not first.usage.cached
    assert second.usage.latency_s == 0 and second.usage.cost == 0 and second.usage.attempts == 0
    assert second.usage.prompt_tokens == first.usage.prompt_tokens
    key = request_key("stub-model", USER, 0.0, 2048, None)
    assert [r["cache_key"] for r in c.calls] == [key, key]
    assert c.complete(USER, temperature=0.5).text == "fresh answer"  # another request, a miss
    store.close()


def test_cached_wrapper_over_any_client(tmp_path: Path) -> None:
    with RunStore(tmp_path / "runs.db") as store:
        inner = ScriptedLLM(["one", "two"])
        cached = CachedLLM(inner, store)
        assert cached.complete(USER).text == "one"
        assert cached.complete(USER).usage.cached
        assert len(inner.calls) == 1 and len(cached.calls) == 2
        assert CachedLLM(ScriptedLLM([]), store).complete(USER).text == "one"  # shared store


# ---------------------------------------------------------------- replay and scripts
def test_replay_plays_in_order_and_checks_prompts(tmp_path: Path) -> None:
    path = tmp_path / "golden.jsonl"
    turns = [{"messages": USER, "response": "first"},
             {"messages": [{"role": "user", "content": "again"}], "response": "second"}]  # fmt: skip
    path.write_text("\n".join(json.dumps(t) for t in turns) + "\n", encoding="utf-8")
    replay = ReplayClient(path, strict=True)
    assert replay.complete(USER).text == "first"
    with pytest.raises(LLMError, match=r"turn 1: messages\[0\] differs.*'again'.*'different'"):
        replay.complete([{"role": "user", "content": "different"}])
    assert ReplayClient(["a"]).complete([{"role": "user", "content": "anything"}]).text == "a"
    with pytest.raises(LLMError, match="exhausted after 1 turn"):
        loose = ReplayClient(["a"])
        loose.complete(USER)
        loose.complete(USER)


def test_replay_from_run_store(tmp_path: Path) -> None:
    scripted = ScriptedLLM(["r1", "r2"], model="ref")
    scripted.complete(USER)
    scripted.complete([{"role": "user", "content": "next"}])
    with RunStore(tmp_path / "runs.db") as store:
        rid = store.create_run([ItemSpec(key="k", item_id="p1")])
        store.record(rid, Outcome(key="k", status="done", llm_calls=list(scripted.calls)))
        replay = ReplayClient.from_store(store, rid, "k", strict=True)
    assert replay.model == "ref"
    assert replay.complete(USER).text == "r1"
    assert replay.complete([{"role": "user", "content": "next"}]).text == "r2"


def test_scripted_llm() -> None:
    s = ScriptedLLM(["a", LLMError("boom")])
    assert isinstance(s, LLM)
    assert s.complete(USER).text == "a"
    with pytest.raises(LLMError, match="boom"):
        s.complete(USER)
    echo = ScriptedLLM(lambda msgs: msgs[-1]["content"].upper())
    out = echo.complete(
        [{"role": "user", "content": "hi"}], response_format={"type": "json_object"}
    )
    assert out.text == "HI" and out.usage.estimated
    assert echo.requests[0]["response_format"] == {"type": "json_object"}


# ---------------------------------------------------------------- configuration
def test_config_precedence(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    cfg = tmp_path / "home" / "config.toml"
    cfg.parent.mkdir(parents=True)
    cfg.write_text('[llm]\nbase_url = "http://127.0.0.1:9/v1"\nmodel = "file-model"\n'
                   'api_key_env = "MY_KEY"\n', encoding="utf-8")  # fmt: skip
    monkeypatch.setenv("MY_KEY", "from-file-env")
    s = resolve_settings()
    assert (s.base_url, s.model, s.api_key.get_secret_value()) == (
        "http://127.0.0.1:9/v1", "file-model", "from-file-env")  # fmt: skip
    assert s.sources == {"base_url": "file", "model": "file", "api_key": "file ($MY_KEY)"}
    monkeypatch.setenv("OPENAI_BASE_URL", "http://127.0.0.1:8/v1")
    monkeypatch.setenv("WORKBENCH_MODEL", "env-model")
    monkeypatch.setenv("OPENAI_API_KEY", "env-key")
    s = resolve_settings()
    assert (s.base_url, s.model, s.api_key.get_secret_value()) == (
        "http://127.0.0.1:8/v1", "env-model", "env-key")  # fmt: skip
    s = resolve_settings(model="arg-model", base_url="http://127.0.0.1:7/v1", api_key="arg-key")
    assert (s.base_url, s.model, s.api_key.get_secret_value()) == (
        "http://127.0.0.1:7/v1", "arg-model", "arg-key")  # fmt: skip
    other = tmp_path / "other.toml"
    other.write_text('[llm]\nmodel = "other"\n', encoding="utf-8")
    monkeypatch.delenv("WORKBENCH_MODEL")
    assert resolve_settings(config_path=other).model == "other"


def test_missing_config_says_how(tmp_path: Path) -> None:
    with pytest.raises(LLMConfigError, match="no LLM base URL and no model.*OPENAI_BASE_URL"):
        OpenAIClient()
    with pytest.raises(LLMConfigError, match="no LLM model configured.*WORKBENCH_MODEL"):
        OpenAIClient(base_url="http://127.0.0.1:9/v1")
    bad = tmp_path / "bad.toml"
    bad.write_text('[llm]\napi_key = "sk-oops"\n', encoding="utf-8")
    with pytest.raises(LLMConfigError, match="api_key_env"):
        resolve_settings(config_path=bad)


def test_env_configures_the_client(llm_stub: LLMStub, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OPENAI_BASE_URL", llm_stub.url)
    monkeypatch.setenv("WORKBENCH_MODEL", "env-model")
    llm_stub.reply("hi")
    c = OpenAIClient()
    assert c.complete(USER).text == "hi" and c.sources["api_key"] == "none"
    assert llm_stub.chat_requests[0].body["model"] == "env-model"


def test_entry_points_and_make_llm(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    from workbench import llm_factory
    from workbench.registry import LazyRegistry

    pyproject = Path(__file__).resolve().parents[1] / "pyproject.toml"
    eps = tomllib.loads(pyproject.read_text())["project"]["entry-points"]["workbench.llms"]
    assert set(eps) >= {"openai", "replay", "scripted"}
    monkeypatch.setattr(llm_factory, "LLMS", LazyRegistry("workbench.llms", builtin=eps))
    llm = llm_factory.make_llm({"kind": "scripted", "replies": ["hello"]})
    assert llm.complete(USER).text == "hello"
    llm = llm_factory.make_llm({"kind": "openai", "model": "m", "base_url": "http://127.0.0.1:9/v1",
                                "cache": str(tmp_path / "c.db")})  # fmt: skip
    assert isinstance(llm, OpenAIClient) and llm.cache is not None


def test_retry_policy_is_reproducible() -> None:
    a, b = RetryPolicy(seed=3), RetryPolicy(seed=3)
    assert [a.wait(k) for k in range(4)] == [b.wait(k) for k in range(4)]
    assert RetryPolicy(max_wait=1.0).wait(10) == 1.0
    with pytest.raises(ValueError, match="-1"):
        RetryPolicy(max_retries=-1)


# ---------------------------------------------------------------- a real endpoint (opt-in)
@pytest.mark.llm
@pytest.mark.skipif(
    os.environ.get("WORKBENCH_TEST_LLM") != "1", reason="set WORKBENCH_TEST_LLM=1 and an endpoint"
)
def test_real_endpoint_returns_json() -> None:
    try:
        c = OpenAIClient(timeout=120)
    except LLMConfigError as e:
        pytest.skip(str(e))
    plan, out = complete_json(c, [{"role": "user", "content": "Reply with x=3, y=1."}], Plan,
                              retries=1)  # fmt: skip
    assert isinstance(plan, Plan) and out.usage.total_tokens > 0
