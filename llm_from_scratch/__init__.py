"""llm_from_scratch: the package behind the book *LLM from Scratch*.

One subpackage per stage of the pipeline the book builds, imported left to right:
tokenizer -> data -> model -> train -> parallel -> align. The notebooks in
``chapters/`` teach; this package holds the code they show and call.
"""

__version__ = "0.1.0"
