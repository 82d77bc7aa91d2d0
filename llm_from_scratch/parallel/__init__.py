"""Parallelism: the same training spread over several processes.

Read in this order, one technique per module: ``launch`` (start a process
group), ``collectives`` (ring all-reduce from send/recv), ``cost`` (memory and
traffic per rank), ``data_parallel``, ``zero`` (ZeRO-1/2/3, FSDP),
``tensor_parallel`` (Megatron), ``pipeline`` (GPipe, 1F1B), then
``production`` (the same on ``torch.distributed``).
"""

from llm_from_scratch.parallel.collectives import (
    COMM_LOG,
    CommLog,
    ring_all_gather,
    ring_all_reduce,
    ring_bytes,
    ring_reduce_scatter,
    time_collective,
)
from llm_from_scratch.parallel.cost import (
    ActivationShape,
    Memory,
    activation_bytes,
    comm_bytes_per_step,
    memory_per_rank,
    pp_comm_bytes,
    tp_comm_bytes,
)
from llm_from_scratch.parallel.data_parallel import DataParallel, broadcast_module
from llm_from_scratch.parallel.expert import ExpertParallelMoE, all_to_all
from llm_from_scratch.parallel.launch import ParallelError, run_parallel
from llm_from_scratch.parallel.pipeline import (
    PipelineStage,
    bubble_fraction,
    measured_bubble,
    pipeline_step,
    schedule_ops,
)
from llm_from_scratch.parallel.tensor_parallel import (
    ColumnParallelLinear,
    RowParallelLinear,
    VocabParallelEmbedding,
    parallelize_transformer,
    vocab_parallel_cross_entropy,
)
from llm_from_scratch.parallel.trainer import ParallelRun, parallel_train
from llm_from_scratch.parallel.zero import (
    FullyShardedUnit,
    ZeroOptimizer,
    fully_shard_transformer,
)

__all__ = [
    "ActivationShape",
    "COMM_LOG",
    "ColumnParallelLinear",
    "CommLog",
    "DataParallel",
    "ExpertParallelMoE",
    "FullyShardedUnit",
    "Memory",
    "ParallelError",
    "ParallelRun",
    "PipelineStage",
    "RowParallelLinear",
    "VocabParallelEmbedding",
    "ZeroOptimizer",
    "activation_bytes",
    "all_to_all",
    "broadcast_module",
    "bubble_fraction",
    "comm_bytes_per_step",
    "fully_shard_transformer",
    "measured_bubble",
    "memory_per_rank",
    "parallel_train",
    "parallelize_transformer",
    "pipeline_step",
    "pp_comm_bytes",
    "ring_all_gather",
    "ring_all_reduce",
    "ring_bytes",
    "ring_reduce_scatter",
    "run_parallel",
    "schedule_ops",
    "time_collective",
    "tp_comm_bytes",
    "vocab_parallel_cross_entropy",
]
