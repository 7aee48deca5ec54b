"""The VAE tab's layout and events: which component each handler's result goes to."""

import gradio as gr
import numpy as np

from .. import runtime
from ..inputs import on_stroke, sketchpad
from ..outputs import outputs, updates
from .handlers import (
    MANIFOLD,
    METHODS,
    MODEL,
    MODELS,
    N_SLIDERS,
    SLIDER_RANGE,
    ClickedPoint,
    DecodedPoint,
    Interpolation,
    Reconstruction,
    decode_point,
    first_view,
    manifold,
    manifold_clicked,
    other_views,
    reroll,
    sample,
    scores,
    slide,
    slider_labels,
    slider_start,
    vae_interpolate,
    vae_interpolate_drawing,
    vae_interpolate_yours,
    vae_reconstruct,
    vae_reconstruct_drawing,
    vae_reconstruct_yours,
)


def build(demo: gr.Blocks, mine: gr.State):
    """Lay out the tab; call inside the gr.Blocks context `demo`; `mine` is the visitor's digit
    (explorer.inputs.your_digit), which every tab shares."""
    gr.Markdown(
        "Variational autoencoders trained on binarized MNIST: a convolutional encoder gives a Gaussian "
        "posterior over the latent, a decoder gives each pixel's probability of ink. Likelihoods are in "
        "nats per test image (lower is better), measured by `python -m training.evaluate`."
    )
    for _, name in MODELS:
        problem = runtime.problem(name)
        if problem:
            gr.Markdown(f"⚠️ {problem}")
    gr.Markdown(scores())
    model = gr.Radio(MODELS, value=MODEL, label="Model")
    raw = {"preprocess": False}
    with gr.Tabs():
        with gr.Tab("Sample"):
            with gr.Row():
                seed = gr.Number(value=0, label="Seed", precision=0, minimum=0)
                temperature = gr.Slider(0, 2, value=1.0, step=0.05, label="Temperature (prior std)")
                side = gr.Slider(1, 16, value=8, step=1, label="Grid size")
                sample_btn = gr.Button("Sample", variant="primary")
                reroll_btn = gr.Button("Re-roll")
            samples = gr.Image(
                label="Prior samples", interactive=False, format="png", elem_id="vae-samples", height=460
            )
        with gr.Tab("Interpolate"):
            with gr.Row():
                index_a = gr.Number(value=0, label="From test digit", precision=0, minimum=0, maximum=9999)
                index_b = gr.Number(value=1, label="To test digit", precision=0, minimum=0, maximum=9999)
                method = gr.Radio(METHODS, value="slerp", label="Path")
                steps = gr.Slider(2, 32, value=10, step=1, label="Steps")
            with gr.Row():
                random_btn = gr.Button("Random pair")
                interp_btn = gr.Button("Interpolate", variant="primary")
                # the visitor's digit from any tab (explorer.inputs.your_digit) as the first digit
                interp_mine_btn = gr.Button("Interpolate from your digit")
            with gr.Accordion("Or start from a drawing", open=False):
                sketch_a = sketchpad("Draw the first digit", elem_id="vae-sketch-a")
                interp_draw_btn = gr.Button("Interpolate from the drawing")
            strip = gr.Image(label="Interpolation", interactive=False, format="png", elem_id="vae-strip")
            gif = gr.File(label="Animated GIF")
        with gr.Tab(f"Manifold ({MANIFOLD})"):
            with gr.Row():
                extent = gr.Slider(0.5, 6, value=3, step=0.5, label="Range of z1 and z2 (+-)")
                grid = gr.Slider(2, 30, value=15, step=1, label="Digits per side")
                manifold_btn = gr.Button("Draw the plane", variant="primary")
            with gr.Row():
                plane = gr.Image(
                    label="Latent plane (click a point to decode it)",
                    interactive=False,
                    format="png",
                    elem_id="vae-manifold",
                    scale=3,
                )
                with gr.Column(scale=1):
                    z1 = gr.Number(value=0.0, label="z1")
                    z2 = gr.Number(value=0.0, label="z2")
                    point_btn = gr.Button("Decode (z1, z2)")
                    point_img = gr.Image(label="Decoded point", interactive=False, format="png", height=224)
                    point_text = gr.Markdown()
        with gr.Tab("Sliders"):
            with gr.Row():
                slider_index = gr.Number(
                    value=0, label="Start from test digit", precision=0, minimum=0, maximum=9999
                )
                encode_btn = gr.Button("Encode it", variant="primary")
            with gr.Row():
                with gr.Column(scale=2):
                    sliders = [
                        gr.Slider(-SLIDER_RANGE, SLIDER_RANGE, value=0, step=0.05, label=f"z{j + 1}")
                        for j in range(N_SLIDERS)
                    ]
                slid = gr.Image(
                    label="Decoded", interactive=False, format="png", height=224, scale=1, elem_id="vae-slid"
                )
        with gr.Tab("Reconstruct"):
            with gr.Row():
                recon_index = gr.Number(value=0, label="Test digit", precision=0, minimum=0, maximum=9999)
                recon_btn = gr.Button("Reconstruct", variant="primary")
                recon_mine_btn = gr.Button("Reconstruct your digit")
            with gr.Accordion("Or draw one", open=False):
                sketch_r = sketchpad(elem_id="vae-sketch-r")
                recon_draw_btn = gr.Button("Reconstruct the drawing")
            with gr.Row():
                recon_in = gr.Image(label="Input", interactive=False, format="png", height=224)
                recon_out = gr.Image(
                    label="Reconstruction (mean of p(x|z) at the posterior mean)",
                    interactive=False,
                    format="png",
                    height=224,
                    elem_id="vae-recon",
                )
            recon_text = gr.Markdown(elem_id="vae-recon-text")

    # ---- results -> components ----
    interpolated = {"strip": strip, "gif": gif}
    reconstructed = {"input": recon_in, "output": recon_out, "text": recon_text}

    def sliders_shown(start) -> dict:
        return {**dict(zip(sliders, start.values)), slid: start.decoded}

    def start_sliders(name, index):
        """Encode a test digit: its posterior mean on the slider dimensions (0 for sliders beyond the
        latent's size) for the sliders, and its decoded image."""
        return sliders_shown(slider_start(name, index))

    def opened(name, seed, temperature, side, extent, grid):
        shown = first_view(name, seed, temperature, side, extent, grid)
        return {c: v for c, v in zip((samples, plane), shown) if v is not None} or gr.skip()

    def others_opened(name, index_a, index_b, method, steps, slider_index, recon_index):
        shown = other_views(name, index_a, index_b, method, steps, slider_index, recon_index)
        out = {}
        if shown.interpolation is not None:
            out |= updates(shown.interpolation, **interpolated)
        if shown.sliders is not None:
            out |= sliders_shown(shown.sliders)
        if shown.reconstruction is not None:
            out |= updates(shown.reconstruction, **reconstructed)
        return out or gr.skip()

    interpolation = outputs(Interpolation, **interpolated)
    reconstruction = outputs(Reconstruction, **reconstructed)
    demo.load(opened, [model, seed, temperature, side, extent, grid], [samples, plane], api_name=False)
    demo.load(slider_labels, model, sliders, api_name=False)
    # a second event, so that the samples and the plane do not wait for the GIF
    demo.load(
        others_opened,
        [model, index_a, index_b, method, steps, slider_index, recon_index],
        [*interpolation, *sliders, slid, *reconstruction],
        api_name=False,
    )
    sample_btn.click(sample, [model, seed, temperature, side], samples, api_name="vae_sample")
    reroll_btn.click(reroll, None, seed, api_name=False).then(
        sample, [model, seed, temperature, side], samples, api_name=False
    )
    interp_btn.click(
        vae_interpolate, [model, index_a, index_b, method, steps], interpolation, api_name="vae_interpolate"
    )
    random_btn.click(
        lambda: tuple(int(i) for i in np.random.default_rng().integers(0, 10_000, 2)),
        None,
        [index_a, index_b],
        api_name=False,
    ).then(vae_interpolate, [model, index_a, index_b, method, steps], interpolation, api_name=False)
    interp_draw_btn.click(
        vae_interpolate_drawing,
        [model, sketch_a, index_b, method, steps],
        interpolation,
        api_name="vae_interpolate_drawing",
        **raw,
    )
    # both canvases answer as the pen lifts; the buttons stay for keyboards and the API
    on_stroke(
        sketch_a, vae_interpolate_drawing, [model, sketch_a, index_b, method, steps], interpolation, mine
    )
    interp_mine_btn.click(
        vae_interpolate_yours, [model, mine, index_b, method, steps], interpolation, api_name=False
    )
    decoded = outputs(DecodedPoint, image=point_img, text=point_text)
    manifold_btn.click(manifold, [extent, grid], plane, api_name="vae_manifold")
    plane.select(
        manifold_clicked,
        [extent, grid],
        outputs(ClickedPoint, image=point_img, text=point_text, z1=z1, z2=z2),
        api_name=False,
    )
    point_btn.click(decode_point, [z1, z2], decoded, api_name="vae_decode_point")
    encode_btn.click(start_sliders, [model, slider_index], [*sliders, slid], api_name="vae_encode")
    model.change(slider_labels, model, sliders, api_name=False)
    # while a slider moves, only the latest value is decoded (answers take a few ms; none pile up)
    gr.on(
        [ev for s in sliders for ev in (s.input, s.release)],
        slide,
        [model, slider_index, *sliders],
        slid,
        api_name="vae_slide",
        trigger_mode="always_last",
        show_progress="hidden",
    )
    recon_btn.click(vae_reconstruct, [model, recon_index], reconstruction, api_name="vae_reconstruct")
    recon_draw_btn.click(
        vae_reconstruct_drawing,
        [model, sketch_r],
        reconstruction,
        api_name="vae_reconstruct_drawing",
        **raw,
    )
    on_stroke(sketch_r, vae_reconstruct_drawing, [model, sketch_r], reconstruction, mine)
    recon_mine_btn.click(vae_reconstruct_yours, [model, mine], reconstruction, api_name=False)
    return {"model": model, "samples": samples}
