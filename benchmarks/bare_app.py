"""The baseline of benchmarks/startup.py: torch and gradio imported, one button, nothing else."""

import argparse

import gradio as gr
import torch  # noqa: F401  (imported like the real app does, so the ratio measures our own start-up work)

p = argparse.ArgumentParser()
p.add_argument("--port", type=int, default=7861)
args = p.parse_args()
with gr.Blocks() as demo:
    out = gr.Textbox()
    gr.Button("ping").click(lambda: "ok", None, out)
demo.launch(server_port=args.port)
