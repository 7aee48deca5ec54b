"""MNIST latent lab: `python app.py [--host H --port P --share --device D]`.

Also the entry point of the Hugging Face Space (app_file: app.py), which imports `demo`.
"""

import argparse
import os

import gradio as gr
import torch

from explorer import denoise, familiar, inputs, latents, neurons, runtime, vae


def ping() -> str:
    """Health check and the trivial endpoint the latency benchmark compares against."""
    return "ok"


def build_demo() -> gr.Blocks:
    # answers are cached as files; those older than a day are removed every hour
    with gr.Blocks(title="MNIST latent lab", delete_cache=(3600, 86400)) as demo:
        gr.Markdown("# MNIST latent lab\nWhat autoencoders learn about handwritten digits.")
        mine = inputs.your_digit()  # drawn or uploaded on one tab, offered by all
        with gr.Tabs() as tabs:
            with gr.Tab("Denoise & classify", id="denoise"):
                denoise.build(demo, mine)
            with gr.Tab("VAE", id="vae"):
                vae.build(demo, mine)
            with gr.Tab("Latent explorer", id=latents.TAB_ID):
                latents.build(demo, tabs, mine)
            with gr.Tab("Latent neurons", id="latent_neurons"):
                neurons.build(demo, mine)
        footer = gr.Markdown(elem_id="footer")
        demo.load(lambda: f"Inference device: `{runtime.device()}`", None, footer, api_name=False)
        gr.api(ping, api_name="ping")
    return demo


demo = build_demo()
# two CPU cores serve a handful of requests at a time best; more would only queue inside torch.
# The queue holds a few hundred waiting requests, then refuses new ones with a message.
demo.queue(default_concurrency_limit=4, max_size=256)
LAUNCH = {  # also used by the tests' server
    "max_file_size": "10mb",
    "show_error": True,
    # Gradio 6 takes a page's CSS and script at launch
    "css": "\n".join([inputs.CSS, denoise.CSS, neurons.CSS, latents.CSS]),
    "js": inputs.PAGE_JS,
    "head": latents.page_head(),
}


def main(argv=None):
    p = argparse.ArgumentParser(description="MNIST latent lab")
    p.add_argument("--host", default=os.environ.get("GRADIO_SERVER_NAME", "127.0.0.1"))
    p.add_argument("--port", type=int, default=int(os.environ.get("GRADIO_SERVER_PORT", 7860)))
    p.add_argument("--share", action="store_true", help="also serve through a public gradio.live link")
    p.add_argument("--device", default="auto", help="auto (cuda > mps > cpu), cpu, cuda, ...")
    args = p.parse_args(argv)
    # optional login: LATENT_LAB_AUTH="user:password"
    auth = (
        tuple(os.environ["LATENT_LAB_AUTH"].split(":", 1))
        if ":" in os.environ.get("LATENT_LAB_AUTH", "")
        else None
    )
    runtime.set_device(args.device)
    runtime.keep_memory_flat()
    # One thread per request: answers are batches of one or two digits, which gain nothing from
    # intra-op threads, and with several requests at once those threads fight over the cores
    # (measured on 2 cores beside a busy process: 630 ms per answer with 2 threads, 10 ms with 1).
    torch.set_num_threads(int(os.environ.get("LATENT_LAB_TORCH_THREADS", "1")))
    demo.launch(
        server_name=args.host,
        server_port=args.port,
        share=args.share,
        auth=auth,
        prevent_thread_lock=True,
        **LAUNCH,
    )
    # warm up once the server is up: loading the test set, scoring the neuron models and drawing the
    # explorer's sprite sheet (a few seconds of CPU) would otherwise compete with the start-up
    runtime.warm_up(
        (denoise.MODEL,), then=lambda: (neurons.warm(), latents.warm(), vae.warm(), familiar.warm())
    )
    demo.block_thread()


if __name__ == "__main__":
    main()
