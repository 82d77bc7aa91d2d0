"""The OpenAI-compatible server, driven by the official ``openai`` client.

A real uvicorn server runs on a free loopback port. References: our own
``Transformer.generate`` (greedy replies must equal it token for token), the
``openai`` client's parsing of every response and error, and the raw SSE bytes.
"""

from __future__ import annotations

import json
import threading
import time

import httpx
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from llm_from_scratch.align.chat import Message, encode_prompt
from llm_from_scratch.cli import main
from llm_from_scratch.model import ModelConfig, Transformer
from llm_from_scratch.serve.api_text import TextStream
from llm_from_scratch.serve.loadtest import load_test, running_server
from llm_from_scratch.serve.server import create_app
from llm_from_scratch.tokenizer import book_tokenizer

openai = pytest.importorskip("openai")
NAME = "tiny"
CONTEXT = 96


@pytest.fixture(scope="module")
def tok():
    return book_tokenizer()


def make_model(vocab_size: int, end_id: int | None = None) -> Transformer:
    """A small random model with peaked logits (greedy is never a near-tie).

    With ``end_id``, residual channel 0 is a constant that only ``end_id``'s
    output row reads: the model says the end token first, every time.
    """
    torch.manual_seed(0)
    model = Transformer(ModelConfig(vocab_size=vocab_size, d_model=64, n_layers=2,
                                    n_heads=4, n_kv_heads=2, max_seq_len=CONTEXT))
    with torch.no_grad():
        model.output.weight.mul_(8.0)
        if end_id is not None:
            model.tok_embeddings.weight[:, 0] = 10.0
            for layer in model.layers:
                layer.attention.wo.weight[0] = 0.0
                layer.feed_forward.w2.weight[0] = 0.0
            model.output.weight[:, 0] = 0.0
            model.output.weight[end_id, 0] = 20.0
    return model.eval()


@pytest.fixture(scope="module")
def model(tok):
    return make_model(tok.vocab_size)


@pytest.fixture(scope="module")
def app(model, tok):
    return create_app(model, tok, model_name=NAME)


@pytest.fixture(scope="module")
def app_batcher(app):
    return app.state.batcher


@pytest.fixture(scope="module")
def server(app):
    with running_server(app) as url:
        yield url


@pytest.fixture(scope="module")
def client(server):
    return openai.OpenAI(base_url=server + "/v1", api_key="x", max_retries=0,
                         timeout=60)


def greedy(model, ids: list[int], n: int, stops: list[int]) -> list[int]:
    with torch.no_grad():
        out = model.generate(torch.tensor([ids]), n, temperature=0.0,
                             stop_tokens=stops)[0, len(ids):].tolist()
    for i, t in enumerate(out):
        if t in stops:
            return out[:i]
    return out


def chat(client, content="Hi there", **kw):
    return client.chat.completions.create(
        model=NAME, messages=[{"role": "user", "content": content}], **kw
    )


def test_models_list(client):
    models = client.models.list()
    assert [m.id for m in models.data] == [NAME]


def test_completion_equals_greedy_generate(client, model, tok):
    prompt = "To be, or not to be"
    r = client.completions.create(model=NAME, prompt=prompt, max_tokens=12,
                                  temperature=0)
    ids = tok.encode_ordinary(prompt)
    expected = greedy(model, ids, 12, [tok.eot_id])
    assert r.choices[0].text == tok.decode(expected)
    assert r.usage.prompt_tokens == len(ids)
    assert r.usage.completion_tokens == len(expected) == 12
    assert r.choices[0].finish_reason == "length"


def test_chat_equals_greedy_generate(client, model, tok):
    r = chat(client, "Hello, café?", max_tokens=10, temperature=0)
    ids = encode_prompt(tok, [Message("user", "Hello, café?")])
    end = tok.special_tokens["<|end|>"]
    expected = greedy(model, ids, 10, [end, tok.eot_id])
    assert r.choices[0].message.content == tok.decode(expected)
    assert r.choices[0].message.role == "assistant"
    assert r.usage.prompt_tokens == len(ids)


def test_streaming_chat_equals_whole_reply(client):
    whole = chat(client, max_tokens=16, temperature=0.9, seed=3)
    chunks = list(chat(client, max_tokens=16, temperature=0.9, seed=3, stream=True))
    pieces = [c.choices[0].delta.content or "" for c in chunks]
    assert chunks[0].choices[0].delta.role == "assistant"
    assert sum(bool(p) for p in pieces) >= 3  # streamed, not one blob
    assert "".join(pieces) == whole.choices[0].message.content
    assert chunks[-1].choices[0].finish_reason == whole.choices[0].finish_reason
    assert len({c.id for c in chunks}) == 1


def test_raw_sse_format_and_usage(server):
    body = {"model": NAME, "prompt": "Hi", "max_tokens": 5, "stream": True,
            "stream_options": {"include_usage": True}}
    with httpx.stream("POST", server + "/v1/completions", json=body,
                      timeout=60) as r:
        assert r.headers["content-type"].startswith("text/event-stream")
        raw = r.read().decode()
    events = [e for e in raw.split("\n\n") if e]
    assert all(e.startswith("data: ") for e in events)
    assert events[-1] == "data: [DONE]"
    last = json.loads(events[-2][6:])
    assert last["choices"] == [] and last["usage"]["completion_tokens"] == 5
    first = json.loads(events[0][6:])
    assert first["object"] == "text_completion"


def test_seed_reproducible(client):
    a = chat(client, max_tokens=12, temperature=1.0, seed=11).choices[0]
    b = chat(client, max_tokens=12, temperature=1.0, seed=11).choices[0]
    c = chat(client, max_tokens=12, temperature=1.0, seed=12).choices[0]
    assert a.message.content == b.message.content
    assert a.message.content != c.message.content


def test_stop_sequence_cuts_the_text(client):
    full = client.completions.create(model=NAME, prompt="Good morrow",
                                     max_tokens=20, temperature=0).choices[0].text
    stop = full[len(full) // 2 : len(full) // 2 + 3]
    cut = client.completions.create(model=NAME, prompt="Good morrow", max_tokens=20,
                                    temperature=0, stop=[stop, "\x00never"])
    assert cut.choices[0].text == full[: full.index(stop)]
    assert cut.choices[0].finish_reason == "stop"


def test_chat_stops_at_end_token(tok):
    end = tok.special_tokens["<|end|>"]
    model = make_model(tok.vocab_size, end_id=end)
    with running_server(create_app(model, tok, model_name=NAME)) as url:
        c = openai.OpenAI(base_url=url + "/v1", api_key="x", max_retries=0)
        r = chat(c, max_tokens=8, temperature=0)
        assert r.choices[0].message.content == ""
        assert r.choices[0].finish_reason == "stop"
        # a plain completion does not stop there: <|end|> is text to it
        done = c.completions.create(model=NAME, prompt="x", max_tokens=3,
                                    temperature=0)
        assert done.choices[0].text == "<|end|>" * 3


def test_client_that_leaves_frees_its_row(server, app_batcher):
    """Closing a stream cancels its request: the batcher stops decoding it."""
    body = {"prompt": "Once", "max_tokens": 80, "stream": True}
    steps = app_batcher.steps
    with httpx.stream("POST", server + "/v1/completions", json=body,
                      timeout=60) as r:
        lines = r.iter_lines()
        assert next(lines).startswith("data: ")
    deadline = time.monotonic() + 30
    while app_batcher.has_work and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not app_batcher.has_work
    assert app_batcher.steps - steps < 80  # it did not run to max_tokens


class Boom(Transformer):
    """Fails on any input holding token ``bad``, like a model hitting a bug."""

    bad = -1

    def forward(self, idx, *args, **kwargs):
        if bool((idx == self.bad).any()):
            raise RuntimeError("boom")
        return super().forward(idx, *args, **kwargs)


def test_a_failing_model_gives_500_and_the_server_stays_up(tok, model):
    boom = Boom(model.config).eval()
    boom.load_state_dict(model.state_dict())
    boom.bad = tok.encode_ordinary(" kaboom")[-1]
    with running_server(create_app(boom, tok, model_name=NAME)) as url:
        c = openai.OpenAI(base_url=url + "/v1", api_key="x", max_retries=0)
        e = _error(lambda: c.completions.create(model=NAME, prompt="a kaboom",
                                                max_tokens=4))
        assert e.status_code == 500 and e.body["type"] == "server_error"
        body = {"prompt": "a kaboom", "max_tokens": 4, "stream": True}
        raw = httpx.post(url + "/v1/completions", json=body, timeout=60).text
        events = [x for x in raw.split("\n\n") if x]
        assert json.loads(events[-2][6:])["error"]["type"] == "server_error"
        assert events[-1] == "data: [DONE]"
        ok = c.completions.create(model=NAME, prompt="a", max_tokens=3)
        assert ok.usage.completion_tokens == 3


def _error(call):
    with pytest.raises(openai.APIStatusError) as info:
        call()
    return info.value


@pytest.mark.parametrize("kw, status, param", [
    (dict(temperature=5), 400, "temperature"),
    (dict(top_p=0), 400, "top_p"),
    (dict(n=2), 400, "n"),
    (dict(max_tokens=0), 400, "max_tokens"),
    (dict(extra_body={"max_tokens": "many"}), 400, "max_tokens"),
    (dict(extra_body={"best_of": 3}), 400, "best_of"),
    (dict(stop=["a", "b", "c", "d", "e"]), 400, "stop"),
    (dict(max_tokens=CONTEXT), 400, "max_tokens"),
])
def test_bad_fields_name_the_field(client, kw, status, param):
    e = _error(lambda: chat(client, **kw))
    assert e.status_code == status
    assert e.body["param"] == param and e.body["type"] == "invalid_request_error"
    assert chat(client, max_tokens=2).choices[0].message.content is not None


def test_bad_messages_and_model(client):
    e = _error(lambda: client.chat.completions.create(
        model=NAME, messages=[{"role": "robot", "content": "hi"}]))
    assert e.status_code == 400 and e.body["param"] == "messages[0].role"
    e = _error(lambda: client.chat.completions.create(
        model=NAME, messages=[{"role": "assistant", "content": "hi"}]))
    assert e.status_code == 400 and e.body["param"] == "messages"
    e = _error(lambda: client.chat.completions.create(
        model="gpt-4", messages=[{"role": "user", "content": "hi"}]))
    assert e.status_code == 404 and e.body["param"] == "model"


def test_too_long_prompt_is_rejected_not_truncated(client, server):
    e = _error(lambda: chat(client, "word " * 200, max_tokens=4))
    assert e.status_code == 400 and e.body["param"] == "messages"
    assert e.body["code"] == "context_length_exceeded"
    e = _error(lambda: client.completions.create(model=NAME, prompt="word " * 200))
    assert e.body["param"] == "prompt"
    assert httpx.get(server + "/v1/models", timeout=10).status_code == 200
    assert chat(client, max_tokens=3).usage.completion_tokens == 3


def test_concurrent_requests_share_the_batcher(client, model, tok):
    """Eight greedy chats at once each equal their own unbatched reply."""
    prompts = [f"Question number {i}?" for i in range(8)]
    out: dict[int, str] = {}

    def ask(i: int) -> None:
        out[i] = chat(client, prompts[i], max_tokens=8,
                      temperature=0).choices[0].message.content

    threads = [threading.Thread(target=ask, args=(i,)) for i in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    end = tok.special_tokens["<|end|>"]
    for i, p in enumerate(prompts):
        ids = encode_prompt(tok, [Message("user", p)])
        assert out[i] == tok.decode(greedy(model, ids, 8, [end, tok.eot_id]))


@pytest.mark.slow
def test_load_test_all_complete(server, client):
    report = load_test(server, n_requests=32, concurrency=32, max_tokens=16,
                       timeout=240)
    assert report.completed == 32 and report.tokens == 32 * 16
    assert 0 < report.first_token_s["p50"] <= report.latency_s["p50"]
    assert report.latency_s["p50"] <= report.latency_s["p99"] < report.wall_s + 1e-6
    assert report.tokens_per_s > 0
    assert chat(client, max_tokens=2).usage.completion_tokens == 2


def test_load_test_runs_inside_an_event_loop(server):
    """A notebook kernel runs an event loop: load_test must still work there."""
    import asyncio

    async def in_loop():
        return load_test(server, n_requests=3, concurrency=2, max_tokens=2)

    report = asyncio.run(in_loop())
    assert report.completed == 3 and report.tokens == 6


def test_chat_page_is_served(server):
    page = httpx.get(server + "/", timeout=10)
    assert page.status_code == 200 and "text/html" in page.headers["content-type"]
    assert "/static/chat.js" in page.text
    js = httpx.get(server + "/static/chat.js", timeout=10)
    assert js.status_code == 200 and "getReader" in js.text
    assert "http" not in js.text.replace("/v1/", "")  # no CDN: works offline


# --- text streaming: split characters and stop sequences ------------------


class Bytes:
    """Each id is one byte."""

    def decode(self, ids):
        return bytes(ids).decode("utf-8", errors="replace")


def test_text_stream_holds_back_split_character():
    s = TextStream(Bytes())
    pieces = [s.feed(b) for b in "hé!".encode()] + [s.finish()]
    assert pieces == ["h", "", "é", "!", ""]


@settings(derandomize=True, max_examples=200, deadline=None)
@given(text=st.text(alphabet="abé \n", max_size=20),
       stops=st.lists(st.text(alphabet="abé", min_size=1, max_size=3), max_size=2))
def test_text_stream_equals_cut_text(text, stops):
    s = TextStream(Bytes(), stops)
    out = "".join(s.feed(b) for b in text.encode()) + s.finish()
    # the reference: the shortest prefix holding a stop sequence ends the text,
    # which is cut where the earliest stop in that prefix starts
    ends = [k for k in range(len(text) + 1) if any(x in text[:k] for x in stops)]
    if ends:
        head = text[: ends[0]]
        expected = text[: min(head.find(x) for x in stops if x in head)]
    else:
        expected = text
    assert out == expected
    assert s.stopped == bool(ends)


# --- the command line -------------------------------------------------------


def test_export_command(tmp_path, tok, model, capsys):
    from llm_from_scratch.serve.export_gguf import load_gguf
    from llm_from_scratch.train import TrainConfig, save_checkpoint

    ckpt = save_checkpoint(tmp_path / "ckpt", model, None, 0, TrainConfig().to_dict(),
                           model_config=model.config.to_dict())
    out = tmp_path / "m.gguf"
    assert main(["export", "--checkpoint", str(ckpt), "--format", "gguf",
                 "--out", str(out)]) == 0
    ids = torch.tensor([tok.encode("Hello")])
    with torch.no_grad():
        torch.testing.assert_close(load_gguf(out)(ids), model(ids))
    with pytest.raises(SystemExit):
        main(["export", "--checkpoint", str(ckpt), "--format", "onnx", "--out", "x"])
    assert "invalid choice" in capsys.readouterr().err


@pytest.mark.slow
@pytest.mark.timeout(180)
def test_serve_command(tmp_path, model):
    """``llm-from-scratch serve`` in its own process, on a free port."""
    import re
    import subprocess
    import sys

    from llm_from_scratch.train import TrainConfig, save_checkpoint

    ckpt = save_checkpoint(tmp_path / "ckpt", model, None, 0, TrainConfig().to_dict(),
                           model_config=model.config.to_dict())
    proc = subprocess.Popen(
        [sys.executable, "-m", "llm_from_scratch", "serve", "--checkpoint", str(ckpt),
         "--port", "0", "--model-name", "cli-model"],
        stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
    )
    try:
        url = None
        for line in proc.stderr:
            found = re.search(r"running on (http://127\.0\.0\.1:\d+)", line)
            if found:
                url = found.group(1)
                break
        assert url, "the server never said where it listens"
        c = openai.OpenAI(base_url=url + "/v1", api_key="x", max_retries=0)
        assert [m.id for m in c.models.list().data] == ["cli-model"]
        r = c.chat.completions.create(model="cli-model", max_tokens=3,
                                      messages=[{"role": "user", "content": "hi"}])
        assert r.usage.completion_tokens == 3
    finally:
        proc.terminate()
        proc.wait(30)

