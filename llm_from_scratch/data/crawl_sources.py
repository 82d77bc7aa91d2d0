"""The distributions the local crawl may read, pinned.

The crawl reads READMEs and licence files of installed packages. Reading *every*
installed package would make the corpus (and so the pretrained model and every
number downstream) change whenever a requirement is added. Only the distributions
named here are read: the book's pinned requirements of December 2026 (corpus
version 4, with the evaluation and serving packages), plus the venv's own
``pip``, ``setuptools`` and ``wheel``. Names are normalised as in PEP 503 (lower
case, runs of ``-_.`` as one ``-``).
"""

from __future__ import annotations

import re

CRAWL_DISTRIBUTIONS: frozenset[str] = frozenset(
    """
    absl-py accessible-pygments aiohappyeyeballs aiohttp aiosignal alabaster
    alt-profanity-check annotated-doc annotated-types anyio argon2-cffi
    argon2-cffi-bindings arrow asttokens async-lru attrs babel beautifulsoup4
    better-profanity bleach certifi cffi chardet charset-normalizer chatterbot-corpus
    click cloudpickle colorama comm contourpy coverage cycler dataproperty datasets
    datasketch debugpy defusedxml dill docutils evaluate executing fastapi
    fastjsonschema filelock fonttools fqdn frozenlist fsspec gguf h11 hf-xet httpcore
    httpcore2 httpx httpx2 huggingface-hub hypothesis idna imagesize importlib-metadata
    iniconfig ipykernel ipython ipython-pygments-lexers isoduration jedi jinja2 jiter
    joblib json5 jsonpointer jsonschema jsonschema-specifications jupyter-book
    jupyter-builder jupyter-cache jupyter-client jupyter-core jupyter-events
    jupyter-lsp jupyter-server jupyter-server-terminals jupyterlab jupyterlab-pygments
    jupyterlab-server kiwisolver lark latexcodec lazy-importer linkify-it-py lm-eval
    lxml markdown-it-py markupsafe matplotlib matplotlib-inline mbstrdecoder
    mdit-py-plugins mdurl mistune more-itertools mpmath multidict multiprocess myst-nb
    myst-parser narwhals nbclient nbconvert nbformat nbval nest-asyncio2 networkx nltk
    notebook-shim numpy openai opentelemetry-api outcome overrides packaging pandas
    pandocfilters parso pathvalidate pexpect pillow pip platformdirs pluggy portalocker
    prometheus-client prompt-toolkit propcache psutil ptyprocess pure-eval py3langid
    pyarrow pybtex pybtex-docutils pycparser pydantic pydantic-core pydata-sphinx-theme
    pygments pyparsing pysocks pytablewriter pytest pytest-timeout python-dateutil
    python-json-logger pytz pyyaml pyzmq referencing regex requests rfc3339-validator
    rfc3986-validator rfc3987-syntax rich rouge-score rpds-py sacrebleu safetensors
    scikit-learn scipy selenium send2trash setuptools shellingham six sniffio
    snowballstemmer sortedcontainers soupsieve sphinx sphinx-book-theme sphinx-comments
    sphinx-copybutton sphinx-design sphinx-external-toc sphinx-jupyterbook-latex
    sphinx-multitoc-numbering sphinx-thebe sphinx-togglebutton sphinxcontrib-applehelp
    sphinxcontrib-bibtex sphinxcontrib-devhelp sphinxcontrib-htmlhelp
    sphinxcontrib-jsmath sphinxcontrib-qthelp sphinxcontrib-serializinghtml sqlalchemy
    sqlitedict stack-data starlette sympy tabledata tabulate tcolorpy terminado
    threadpoolctl tiktoken tinycss2 tokenizers torch tornado tqdm traitlets
    transformers trio trio-websocket truststore typepy typer typing-extensions
    typing-inspection tzdata uri-template urllib3 uvicorn wcwidth webcolors
    webencodings websocket-client wheel word2number wsproto xxhash yarl zipp
    """.split()
)


def normalise(name: str) -> str:
    """PEP 503 normalised distribution name: ``Foo_Bar.baz`` -> ``foo-bar-baz``."""
    return re.sub(r"[-_.]+", "-", name).lower()


def dist_name(dist_info: str) -> str:
    """The normalised distribution name of a ``NAME-VERSION.dist-info`` folder."""
    stem = dist_info.removesuffix(".dist-info")
    return normalise(stem.rsplit("-", 1)[0])
