"""Guided lessons: predict, then see. Each step opens a view of a shipped model through the URL state,
so a teacher can copy a link to any step."""

import streamlit as st

from ui import session, url, widgets
from ui.lessons import LESSONS

widgets.page_header(
    "Lessons",
    "Short guided lessons on what a VAE does. Each step opens a view, asks you to predict what you will see, "
    "then shows it. Copy a step's link to send a class straight to it.",
)

GOTO = "lesson_goto"
if GOTO in st.session_state:  # set by a button's callback: the model is chosen, the view's widgets reset
    page, params = st.session_state.pop(GOTO)
    st.switch_page(page, query_params=params)

CURRENT = "lesson_current"  # survives the reset of the widgets when a step opens its view
if "lesson_choice" not in st.session_state and CURRENT in st.session_state and url.read("lesson") is None:
    st.session_state["lesson_choice"] = st.session_state[CURRENT]
url.seed("lesson_choice", "lesson", str, lambda v: v in LESSONS)
slug = st.selectbox("Lesson", list(LESSONS), format_func=lambda s: LESSONS[s].title, key="lesson_choice")
st.session_state[CURRENT] = slug
lesson = LESSONS[slug]
url.write("lesson", slug)
st.caption(lesson.summary)

linked = url.read("step")
step_key = f"lesson_step_{slug}"
if step_key not in st.session_state:
    st.session_state[step_key] = int(linked) - 1 if linked and linked.isdigit() and \
        1 <= int(linked) <= len(lesson.steps) else 0
index = st.session_state[step_key]
url.write("step", index + 1)
step = lesson.steps[index]

st.progress((index + 1) / len(lesson.steps), text=f"Step {index + 1} of {len(lesson.steps)}: {step.title}")
st.markdown(step.setup)


def open_view() -> None:
    session.choose_model(step.params["model"])
    url.reseed()
    st.session_state[GOTO] = (step.page, step.params)


st.button("Open this view", icon=":material/open_in_new:", on_click=open_view, key=f"open_{slug}_{index}",
          help="The model and the view this step is about; come back here with the Lessons entry of the menu.")

st.markdown(f"**Predict first.** {step.question}")
guess = st.radio("Your prediction", step.options, index=None, key=f"guess_{slug}_{index}",
                 label_visibility="collapsed")
revealed_key = f"revealed_{slug}_{index}"
if st.button("Reveal", type="primary", disabled=guess is None, key=f"reveal_{slug}_{index}"):
    st.session_state[revealed_key] = True
if st.session_state.get(revealed_key):
    right = guess == step.options[step.answer]
    (st.success if right else st.info)(("Right. " if right else f"It is: **{step.options[step.answer]}**. ")
                                       + step.reveal)
    back, forward = st.columns(2)
    if index + 1 < len(lesson.steps):
        if forward.button("Next step", icon=":material/arrow_forward:", key=f"next_{slug}_{index}"):
            st.session_state[step_key] = index + 1
            st.rerun()
    else:
        forward.success(f"Lesson complete: {lesson.title}.")
if index > 0 and st.button("Previous step", icon=":material/arrow_back:", key=f"prev_{slug}_{index}"):
    st.session_state[step_key] = index - 1
    st.rerun()

query = "&".join(f"{k}={v}" for k, v in {"lesson": slug, "step": index + 1}.items())
st.caption("Link to this step (for a class):")
st.code(f"{st.context.url.split('?')[0] if st.context.url else '/Lessons'}?{query}", language=None)
