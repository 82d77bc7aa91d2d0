// The chat page: keeps the conversation, posts it to /v1/chat/completions with
// stream: true and shows the reply as the server-sent events arrive.
"use strict";

const conversation = document.getElementById("conversation");
const form = document.getElementById("composer");
const box = document.getElementById("message");
const send = document.getElementById("send");
const statusLine = document.getElementById("status");
let messages = [];
// "/?seed=N" makes the replies reproducible (the browser test uses it)
const seed = new URLSearchParams(window.location.search).get("seed");

function bubble(role, text) {
  const div = document.createElement("div");
  div.className = "msg " + role;
  div.textContent = text;
  conversation.appendChild(div);
  conversation.scrollTop = conversation.scrollHeight;
  return div;
}

// Yield the parsed JSON of each "data:" event of an SSE body; stop at [DONE].
async function* sseEvents(body) {
  const reader = body.getReader();
  const decoder = new TextDecoder();
  let buffer = "";
  for (;;) {
    const { value, done } = await reader.read();
    if (done) return;
    buffer += decoder.decode(value, { stream: true });
    let end;
    while ((end = buffer.indexOf("\n\n")) >= 0) {
      const event = buffer.slice(0, end);
      buffer = buffer.slice(end + 2);
      for (const line of event.split("\n")) {
        if (!line.startsWith("data: ")) continue;
        const data = line.slice(6);
        if (data === "[DONE]") return;
        yield JSON.parse(data);
      }
    }
  }
}

function request() {
  const body = { messages: messages, stream: true, max_tokens: 64, temperature: 0.8 };
  if (seed !== null) body.seed = Number(seed);
  return body;
}

async function ask(text) {
  messages.push({ role: "user", content: text });
  bubble("user", text);
  const reply = bubble("assistant", "");
  reply.dataset.chunks = "0";
  reply.dataset.done = "false";
  send.disabled = true;
  statusLine.textContent = "generating...";
  try {
    let response;
    for (;;) {
      response = await fetch("/v1/chat/completions", {
        method: "POST",
        headers: { "Content-Type": "application/json" },
        body: JSON.stringify(request()),
      });
      if (response.ok) break;
      const err = (await response.json()).error || { message: response.statusText };
      // too long for the model's context: forget the oldest exchange, as the
      // terminal chat does, while one is left to forget
      if (err.code === "context_length_exceeded" && messages.length > 2) {
        messages.splice(0, 2);
        statusLine.textContent = "context full: oldest exchange forgotten";
        continue;
      }
      throw new Error(err.message);
    }
    for await (const chunk of sseEvents(response.body)) {
      const delta = chunk.choices.length ? chunk.choices[0].delta : {};
      if (delta.content) {
        reply.textContent += delta.content;
        reply.dataset.chunks = String(Number(reply.dataset.chunks) + 1);
        conversation.scrollTop = conversation.scrollHeight;
      }
    }
    const answer = reply.textContent.trim();
    if (answer) {
      messages.push({ role: "assistant", content: answer });
    } else {
      messages.pop();  // keep user/assistant alternating
      reply.textContent = "(empty reply)";
    }
    if (statusLine.textContent === "generating...") statusLine.textContent = "ready";
  } catch (e) {
    messages.pop();
    reply.className = "msg error";
    reply.textContent = "error: " + e.message;
    statusLine.textContent = "error";
  } finally {
    reply.dataset.done = "true";
    send.disabled = false;
    box.focus();
  }
}

form.addEventListener("submit", (event) => {
  event.preventDefault();
  const text = box.value.trim();
  if (!text || send.disabled) return;
  box.value = "";
  ask(text);
});

box.addEventListener("keydown", (event) => {
  if (event.key === "Enter" && !event.shiftKey) {
    event.preventDefault();
    form.requestSubmit();
  }
});

document.getElementById("reset").addEventListener("click", () => {
  messages = [];
  conversation.textContent = "";
  statusLine.textContent = "new conversation";
});
