"""A recorded run of the default speedrun, for the Capstone chapter's "full run".

``llm-from-scratch speedrun --out run`` on the machine that builds the book (2 shared
CPU cores, torch 2.13.0, CPU), 2026-12-04, at commit 82d74b4. That commit reserved
max(150 s, 15% of the budget) for the stages after pretraining, so the run ended three
minutes early; the reserve is now max(90 s, 5%). Measured, not recomputed: a 30-minute
run does not fit the book's build.
"""

SPEEDRUN_30MIN = {
    "budget_minutes": 30,
    "reserve_seconds": 270,
    "seconds": {"curate": 5.8, "tokenizer": 2.3, "shards": 0.8, "pretrain": 1578.9,
                "sft": 8.5, "dpo": 7.0, "rl": 9.6, "eval": 3.0, "chat": 0.0},
    "total_seconds": 1615.9,
    "steps": 23587,
    "val_bpb": 2.002,
    # the aligned model's replies to the four sample prompts
    "replies": ("even", "even", "even", "even"),
    # (items, metric, value, standard error) per model-task
    "eval": {
        "aligned-cloze": (200, "acc", 0.29, 0.032),
        "aligned-parity": (27, "exact_match", 0.481, 0.098),
        "aligned-quotes": (200, "acc", 0.325, 0.033),
        "pretrained-cloze": (200, "acc", 0.32, 0.033),
        "pretrained-parity": (27, "exact_match", 0.0, 0.0),
        "pretrained-quotes": (200, "acc", 0.24, 0.03),
    },
}
