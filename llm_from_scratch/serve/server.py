"""An OpenAI-compatible HTTP server in front of the continuous batcher.

``create_app(model, tokenizer)`` returns a FastAPI app with ``/v1/models``,
``/v1/completions`` and ``/v1/chat/completions`` (whole answers or server-sent
events in OpenAI's chunk format), and the chat page at ``/``. Every request is
submitted to one ``ContinuousBatcher`` running in a background thread, so
concurrent clients share each forward pass of the model.

The batcher's thread and the event loop meet in :func:`token_events`: a small
thread per request blocks on the request's token iterator and hands each token
to the loop with ``call_soon_threadsafe``, so no async task ever blocks and the
loop's default thread pool (a handful of threads) is never the limit on how many
clients stream at once.
"""

from __future__ import annotations

import asyncio
import json
import threading
import time
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import FileResponse, JSONResponse, StreamingResponse
from fastapi.staticfiles import StaticFiles

from llm_from_scratch.align.chat import BOS, END, Message, encode_prompt
from llm_from_scratch.serve.api_schema import (
    APIError,
    ChatRequest,
    CompletionRequest,
    Sampling,
    param_name,
)
from llm_from_scratch.serve.api_text import TextStream
from llm_from_scratch.serve.batcher import ContinuousBatcher, SamplingParams

STATIC = Path(__file__).with_name("static")


async def token_events(request: Any) -> AsyncIterator[int]:
    """The batcher request's tokens as an async iterator (cancels it on exit)."""
    loop = asyncio.get_running_loop()
    q: asyncio.Queue[tuple[str, Any]] = asyncio.Queue()

    def pump() -> None:
        try:
            for token in request:
                loop.call_soon_threadsafe(q.put_nowait, ("token", token))
            loop.call_soon_threadsafe(q.put_nowait, ("done", None))
        except BaseException as e:  # noqa: BLE001 - handed to the loop
            loop.call_soon_threadsafe(q.put_nowait, ("error", e))

    threading.Thread(target=pump, daemon=True).start()
    try:
        while True:
            kind, value = await q.get()
            if kind == "token":
                yield value
            elif kind == "error":
                raise APIError(f"generation failed: {value}", status=500,
                               kind="server_error")
            else:
                return
    finally:
        request.cancel()  # a client that left, or a stop sequence: free the row


class Generation:
    """One request's tokens and visible text, driven by :meth:`pieces`."""

    def __init__(self, app_state: Any, prompt: list[int], body: Sampling,
                 param: str, stop_ids: tuple[int, ...] = ()) -> None:
        s = app_state
        room = s.context - len(prompt)
        if room < 1:
            raise APIError(
                f"the prompt is {len(prompt)} tokens; this model's context is "
                f"{s.context} tokens (nothing is truncated)", param=param,
                code="context_length_exceeded",
            )
        max_tokens = body.max_tokens if body.max_tokens is not None else room
        if len(prompt) + max_tokens > s.context:
            raise APIError(
                f"the prompt ({len(prompt)} tokens) plus max_tokens ({max_tokens}) "
                f"exceeds this model's context of {s.context} tokens",
                param="max_tokens", code="context_length_exceeded",
            )
        params = SamplingParams(
            max_tokens=max_tokens, temperature=body.temperature, top_p=body.top_p,
            stop_token_ids=stop_ids, seed=body.seed,
        )
        try:
            self.request = s.batcher.submit(prompt, params)
        except ValueError as e:
            raise APIError(str(e), param=param) from None
        self.prompt_tokens, self.completion_tokens = len(prompt), 0
        self.text = TextStream(s.tokenizer, body.stop)
        self.finish_reason: str | None = None

    async def pieces(self) -> AsyncIterator[str]:
        """Visible text pieces as tokens arrive; sets ``finish_reason`` at the end."""
        async for token in token_events(self.request):
            self.completion_tokens += 1
            piece = self.text.feed(token)
            if piece:
                yield piece
            if self.text.stopped:
                self.finish_reason = "stop"
                return
        rest = self.text.finish()
        if rest:
            yield rest
        reason = self.request.finish_reason
        self.finish_reason = "length" if reason == "length" else "stop"

    def usage(self) -> dict[str, int]:
        return {
            "prompt_tokens": self.prompt_tokens,
            "completion_tokens": self.completion_tokens,
            "total_tokens": self.prompt_tokens + self.completion_tokens,
        }


def _sse(obj: dict[str, Any] | str) -> str:
    data = obj if isinstance(obj, str) else json.dumps(obj, ensure_ascii=False)
    return f"data: {data}\n\n"


def create_app(
    model: Any,
    tokenizer: Any,
    *,
    model_name: str = "llm-from-scratch",
    max_batch_size: int = 8,
    batcher: ContinuousBatcher | None = None,
) -> FastAPI:
    """The API and chat page serving ``model`` (a ``Transformer``) and ``tokenizer``.

    The batcher's thread starts with the app and stops with it.
    """
    if tokenizer.vocab_size != model.config.vocab_size:
        raise ValueError(
            f"tokenizer has {tokenizer.vocab_size} tokens but the model "
            f"{model.config.vocab_size}"
        )
    if END not in tokenizer.special_tokens:
        raise ValueError(f"the tokenizer lacks the chat end token {END!r}")
    model.eval()
    batcher = batcher or ContinuousBatcher(model, max_batch_size=max_batch_size)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        batcher.start()
        try:
            yield
        finally:
            batcher.stop()

    app = FastAPI(title="llm-from-scratch", lifespan=lifespan)
    app.state.batcher, app.state.tokenizer = batcher, tokenizer
    app.state.context, app.state.model_name = batcher.max_seq_len, model_name
    app.state.created = int(time.time())
    end_id = tokenizer.special_tokens[END]
    eot_id = tokenizer.special_tokens.get(BOS, end_id)  # ends a document

    @app.exception_handler(APIError)
    async def _api_error(_: Request, e: APIError) -> JSONResponse:
        return JSONResponse(e.body(), status_code=e.status)

    @app.exception_handler(RequestValidationError)
    async def _invalid(_: Request, e: RequestValidationError) -> JSONResponse:
        first = e.errors()[0]
        param = param_name(tuple(first.get("loc", ())))
        msg = first.get("msg", "invalid request")
        return JSONResponse(
            APIError(f"{param}: {msg}" if param else msg, param=param).body(),
            status_code=400,
        )

    def check_model(body: Sampling) -> None:
        if body.model not in (None, model_name):
            raise APIError(f"model {body.model!r} does not exist; this server has "
                           f"{model_name!r}", param="model", status=404,
                           kind="invalid_request_error", code="model_not_found")

    @app.get("/v1/models")
    async def list_models() -> dict[str, Any]:
        return {"object": "list", "data": [{
            "id": model_name, "object": "model", "created": app.state.created,
            "owned_by": "llm-from-scratch"}]}

    def head(kind: str) -> dict[str, Any]:
        prefix = "chatcmpl" if kind.startswith("chat") else "cmpl"
        return {"id": f"{prefix}-{uuid.uuid4().hex[:24]}", "object": kind,
                "created": int(time.time()), "model": model_name}

    def stream_response(gen: Generation, kind: str, body: Sampling,
                        chat: bool) -> StreamingResponse:
        top = head(kind)
        usage = bool(body.stream_options and body.stream_options.include_usage)

        def chunk(piece: str | None, reason: str | None) -> dict[str, Any]:
            if chat:
                delta = {} if piece is None else {"content": piece}
                choice = {"index": 0, "delta": delta, "finish_reason": reason}
            else:
                choice = {"index": 0, "text": piece or "", "logprobs": None,
                          "finish_reason": reason}
            return {**top, "choices": [choice]}

        async def events() -> AsyncIterator[str]:
            if chat:
                yield _sse({**top, "choices": [{"index": 0, "delta": {
                    "role": "assistant", "content": ""}, "finish_reason": None}]})
            try:
                async for piece in gen.pieces():
                    yield _sse(chunk(piece, None))
            except APIError as e:  # headers are sent: report it as an event
                yield _sse(e.body())
                yield _sse("[DONE]")
                return
            yield _sse(chunk(None, gen.finish_reason))
            if usage:
                yield _sse({**top, "choices": [], "usage": gen.usage()})
            yield _sse("[DONE]")

        return StreamingResponse(events(), media_type="text/event-stream",
                                 headers={"Cache-Control": "no-cache"})

    @app.post("/v1/completions", response_model=None)
    async def completions(body: CompletionRequest) -> Any:
        check_model(body)
        if not body.prompt:
            raise APIError("prompt must be a non-empty string", param="prompt")
        prompt = tokenizer.encode_ordinary(body.prompt)
        gen = Generation(app.state, prompt, body, "prompt", stop_ids=(eot_id,))
        if body.stream:
            return stream_response(gen, "text_completion", body, chat=False)
        text = "".join([p async for p in gen.pieces()])
        if body.echo:
            text = body.prompt + text
        return {**head("text_completion"), "choices": [{
            "index": 0, "text": text, "logprobs": None,
            "finish_reason": gen.finish_reason}], "usage": gen.usage()}

    @app.post("/v1/chat/completions", response_model=None)
    async def chat_completions(body: ChatRequest) -> Any:
        check_model(body)
        try:
            messages = [Message(m.role, m.content) for m in body.messages]
            prompt = encode_prompt(tokenizer, messages)
        except (ValueError, TypeError) as e:
            raise APIError(str(e), param="messages") from None
        gen = Generation(app.state, prompt, body, "messages", stop_ids=(end_id, eot_id))
        if body.stream:
            return stream_response(gen, "chat.completion.chunk", body, chat=True)
        text = "".join([p async for p in gen.pieces()])
        return {**head("chat.completion"), "choices": [{
            "index": 0, "message": {"role": "assistant", "content": text},
            "logprobs": None, "finish_reason": gen.finish_reason}],
            "usage": gen.usage()}

    @app.get("/", include_in_schema=False)
    async def index() -> FileResponse:
        return FileResponse(STATIC / "index.html", media_type="text/html")

    app.mount("/static", StaticFiles(directory=STATIC), name="static")
    return app
