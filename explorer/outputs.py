"""The thin layer between a tab's handlers and its components: a handler computes a named result (a
NamedTuple, the tuple Gradio expects of an event with several outputs), and the tab's layout names
the component each field goes to. No handler knows how many outputs an event has."""

import gradio as gr


def outputs(result: type, **components: gr.components.Component) -> list:
    """The output components of an event whose handler returns a `result` (a NamedTuple class), in
    the order of its fields; every field needs its component, and only those are taken."""
    missing = [f for f in result._fields if f not in components]
    if missing:
        raise TypeError(f"no component for {result.__name__}.{', '.join(missing)}")
    return [components[f] for f in result._fields]


def updates(result, **components: gr.components.Component) -> dict:
    """A named result as {component: value}, for an event with more outputs than the result has
    fields: Gradio leaves the outputs missing from such a dict unchanged."""
    return {components[f]: value for f, value in result._asdict().items()}
