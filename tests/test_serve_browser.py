"""The chat page in a real browser: headless Chromium types, sends and watches the
reply stream in, chunk by chunk, from a real server on loopback.

Needs Debian's ``chromium`` and ``chromium-driver`` (``make browser`` or
``tools/ensure_chromium.sh`` installs them); without them the test fails and
says so, rather than skipping silently.
"""

from __future__ import annotations

import shutil
import tempfile
from contextlib import contextmanager
from pathlib import Path

import httpx
import pytest
import torch

from llm_from_scratch.model import ModelConfig, Transformer
from llm_from_scratch.serve.loadtest import running_server
from llm_from_scratch.serve.server import create_app
from llm_from_scratch.tokenizer import book_tokenizer

CHROMIUM, DRIVER = "/usr/bin/chromium", "/usr/bin/chromedriver"
FLAGS = (
    "--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
    "--disable-quic", "--no-first-run", "--disable-background-networking",
    "--disable-component-update", "--disable-sync",
)


def _browser_paths() -> tuple[str, str]:
    chromium = CHROMIUM if Path(CHROMIUM).exists() else shutil.which("chromium")
    driver = DRIVER if Path(DRIVER).exists() else shutil.which("chromedriver")
    if not chromium or not driver:
        pytest.fail(
            "the browser test needs Debian's chromium and chromium-driver: run "
            "`make browser` (or `tools/ensure_chromium.sh`, or "
            "`sudo apt-get install chromium chromium-driver`)",
            pytrace=False,
        )
    return chromium, driver


@contextmanager
def headless_chromium(chromium: str, driver_path: str):
    """A Selenium driver on a fresh profile, quit and deleted afterwards."""
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    profile = tempfile.mkdtemp(prefix="llmfs-chromium-")
    options = webdriver.ChromeOptions()
    options.binary_location = chromium
    for flag in (*FLAGS, f"--user-data-dir={profile}"):
        options.add_argument(flag)
    driver = webdriver.Chrome(service=Service(driver_path), options=options)
    driver.set_page_load_timeout(60)
    try:
        yield driver
    finally:
        driver.quit()
        shutil.rmtree(profile, ignore_errors=True)


@pytest.mark.slow
def test_chat_page_streams_a_reply():
    chromium, driver = _browser_paths()  # fails (not skips) when missing
    with headless_chromium(chromium, driver) as browser:
        _chat_in(browser)


def _chat_in(browser):
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import WebDriverWait

    tok = book_tokenizer()
    torch.manual_seed(0)
    model = Transformer(ModelConfig(vocab_size=tok.vocab_size, d_model=64,
                                    n_layers=2, n_heads=4, max_seq_len=128)).eval()
    with torch.no_grad():
        model.output.weight.mul_(8.0)
    with running_server(create_app(model, tok)) as url:
        browser.get(url + "/?seed=5")
        assert browser.title == "llm-from-scratch chat"
        box = browser.find_element(By.ID, "message")
        box.send_keys("Good morrow, friend")
        browser.find_element(By.ID, "send").click()
        wait = WebDriverWait(browser, 60)
        wait.until(lambda d: d.find_elements(By.CSS_SELECTOR, ".assistant[data-done="
                                                              "'true'], .error"))
        assert not browser.find_elements(By.CSS_SELECTOR, ".error")
        user = browser.find_element(By.CSS_SELECTOR, ".msg.user")
        assert user.text == "Good morrow, friend"
        reply = browser.find_element(By.CSS_SELECTOR, ".msg.assistant")
        assert int(reply.get_attribute("data-chunks")) >= 3  # streamed in pieces
        # the page sent seed 5 (from its URL): the API gives the same reply
        body = {"messages": [{"role": "user", "content": "Good morrow, friend"}],
                "max_tokens": 64, "temperature": 0.8, "seed": 5}
        expected = httpx.post(url + "/v1/chat/completions", json=body, timeout=60)
        content = expected.json()["choices"][0]["message"]["content"]
        assert content.strip()
        assert reply.get_attribute("textContent") == content
        # the conversation goes on: a second turn gets a second reply
        box.send_keys("And again")
        browser.find_element(By.ID, "send").click()
        wait.until(lambda d: len(d.find_elements(
            By.CSS_SELECTOR, ".assistant[data-done='true'], .error")) == 2)
        assert len(browser.find_elements(By.CSS_SELECTOR, ".msg.user")) == 2
        assert not browser.find_elements(By.CSS_SELECTOR, ".error")
        # 64 + 64 reply tokens outgrow the 128-token context: the page forgot
        # the first exchange and asked again instead of failing
        status = browser.find_element(By.ID, "status").text
        assert status == "context full: oldest exchange forgotten"
        second = browser.find_elements(By.CSS_SELECTOR, ".msg.assistant")[1]
        assert int(second.get_attribute("data-chunks")) >= 3
