"""Data curation: raw text → filters → dedup → toxicity → tokenized binary shards.

Public entry points: ``curate`` (the pipeline), ``book_shards`` (the book's
curated corpus as token shards), ``TokenShards`` / ``write_shards`` (the
shard format), ``open_executor`` (local processes or a Dask cluster,
``data/dask_executor.py``), ``toxicity_classifier`` (the chapter's trained classifier) and
``read_hf_dataset`` (an optional Hugging Face ``datasets`` source).
"""

from llm_from_scratch.data.corpus import BookShards, book_shards, split_documents
from llm_from_scratch.data.dedup import MinHasher, near_duplicate_clusters
from llm_from_scratch.data.documents import Document
from llm_from_scratch.data.executors import LocalExecutor, open_executor
from llm_from_scratch.data.hf import HFSource, read_hf_dataset
from llm_from_scratch.data.pipeline import CurationConfig, CurationReport, curate
from llm_from_scratch.data.shards import TokenShards, read_shard, write_shards
from llm_from_scratch.data.toxicity import ToxicityClassifier, toxicity_classifier

__all__ = [
    "BookShards",
    "CurationConfig",
    "CurationReport",
    "Document",
    "HFSource",
    "LocalExecutor",
    "MinHasher",
    "TokenShards",
    "ToxicityClassifier",
    "book_shards",
    "curate",
    "near_duplicate_clusters",
    "open_executor",
    "read_hf_dataset",
    "read_shard",
    "split_documents",
    "toxicity_classifier",
    "write_shards",
]
