#!/usr/bin/env bash
# Every GPU measurement the book reports, in one run on one CUDA GPU:
#
#     bash benchmarks/gpu_suite.sh [out_dir]        # logs and JSON in out_dir
#
# 1. bench_gpu.py: tokens/s and MFU of a ~124M-parameter model (fwd+bwd and a
#    full training step with bf16, SDPA and torch.compile);
# 2. the parallel-train CLI under torchrun with the NCCL backend (world size 1):
#    every scheme runs, and DDP/FSDP tokens/s at ~124M parameters;
# 3. the Training chapter's full-size run (LLMFS_FULL's config) on the GPU
#    through the train CLI: wall time and validation bits per byte.
# Each step is bounded by `timeout`; one that fails does not stop the others.
set -uo pipefail
cd "$(dirname "$0")/.."
out=${1:-gpu-results}
mkdir -p "$out"
py=${PYTHON:-python3}
export PYTHONUNBUFFERED=1
export LLMFS_CACHE=${LLMFS_CACHE:-$PWD/.cache}  # as make: the tokenizer and shards
export PYTHONPATH=$PWD${PYTHONPATH:+:$PYTHONPATH}

step() {  # step NAME SECONDS CMD...: run, show and keep the output
    local name=$1 limit=$2
    shift 2
    echo "== $name: $*"
    timeout "$limit" "$@" > "$out/$name.log" 2>&1
    local rc=$?
    tail -n 25 "$out/$name.log"
    echo "== $name: exit $rc"
}

nvidia-smi --query-gpu=name,driver_version,memory.total,clocks.max.sm --format=csv \
    > "$out/env.log" 2>&1
$py -m llm_from_scratch info >> "$out/env.log" 2>&1
cat "$out/env.log"

step bench_gpu 300 $py benchmarks/bench_gpu.py --json "$out/bench_gpu.json"

torchrun=($py -m torch.distributed.run --standalone --nproc_per_node=1)
for scheme in ddp fsdp tp pp ddp-scratch fsdp-scratch tp-scratch; do
    step "nccl_$scheme" 120 "${torchrun[@]}" -m llm_from_scratch parallel-train \
        --parallel "$scheme" --steps 4
done
gpt2=(--vocab-size 50304 --d-model 768 --n-layers 12 --n-heads 12 --n-kv-heads 12
      --tie-embeddings --fast --dtype bfloat16 --batch-size 16 --seq-len 1024)
for scheme in ddp fsdp; do
    step "nccl_${scheme}_124m" 180 "${torchrun[@]}" -m llm_from_scratch \
        parallel-train --parallel "$scheme" "${gpt2[@]}" --steps 12
done

full=()
for kv in d_model=256 n_layers=6 n_heads=8 batch_size=32 seq_len=256 steps=1500 \
          lr=2e-3 eval_every=100 eval_batches=20 fast=true dtype=bfloat16 compile=true; do
    full+=(--set "$kv")
done
step train_full 300 $py -m llm_from_scratch train --out-dir "$out/run_full" \
    --no-progress "${full[@]}"
rm -rf "$out/run_full/checkpoints"
