"""Data curation: raw text → filters → dedup → toxicity → tokenized binary shards."""

from llm_from_scratch.data.shards import TokenShards, read_shard, write_shards

__all__ = ["TokenShards", "read_shard", "write_shards"]
