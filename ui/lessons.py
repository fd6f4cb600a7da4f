"""Guided lessons: each step opens a view of a shipped model (through the URL state, so a teacher can
copy a link to it), asks the student to predict what they will see, then reveals and explains it."""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True)
class Step:
    title: str
    setup: str  # what the student is looking at
    page: str  # pages/<file>.py the step's view lives on
    params: dict[str, str]  # that view's URL state (the model first)
    question: str
    options: tuple[str, ...]
    answer: int  # index into options
    reveal: str  # what happens, and why


@dataclass(frozen=True)
class Lesson:
    title: str
    summary: str
    steps: tuple[Step, ...] = field(default_factory=tuple)


LESSONS: dict[str, Lesson] = {
    "reparameterisation": Lesson(
        "The reparameterisation trick",
        "z = μ + σ·ε: where the randomness of a VAE lives, and why gradients can still reach the encoder.",
        (
            Step("One input's posterior", "A test digit, taken apart by the 2-D model digits-2d: its μ ± σ bars stand "
                 "over the prior's grey bands.", "pages/5_Your_Input.py", {"model": "digits-2d", "test": "0"},
                 "You press **Resample ε** a few times. What changes?",
                 ("μ and σ", "z and the decoded x̂, but not μ and σ", "nothing at all"), 1,
                 "μ and σ are what the encoder says about this input: they stay. Only ε ~ N(0, I) is redrawn, so z "
                 "moves inside the σ bar and x̂ changes with it. Because the noise enters from outside, z is a "
                 "differentiable function of μ and σ, and the encoder can learn by gradient descent."),
            Step("Many draws at once", "The same input, 16 or more draws of z ~ q(z|x) decoded (the 'Uncertainty' "
                 "section).", "pages/5_Your_Input.py", {"model": "digits-2d", "test": "0"},
                 "Where will the decodes disagree most (the bright pixels of the std image)?",
                 ("on the black background", "along the edges of the strokes", "evenly everywhere"), 1,
                 "Moving z a little shifts and thickens the strokes: pixels on the stroke edges flip between ink "
                 "and background, while the background far away stays black in every draw."),
        ),
    ),
    "elbo": Lesson(
        "The terms of the ELBO",
        "−ELBO = reconstruction + KL, and a tighter bound on −log p(x) with importance weights.",
        (
            Step("One input's bill", "A digit under the 10-D model digits-10d: its reconstruction term, its KL and "
                 "their sum, and the importance-weighted bound.", "pages/5_Your_Input.py",
                 {"model": "digits-10d", "test": "3"},
                 "Which number is larger: −ELBO, or the importance-weighted bound on −log p(x) (k = 64)?",
                 ("−ELBO", "the importance-weighted bound", "they are equal"), 0,
                 "Both bound −log p(x) from above; the importance-weighted one averages 64 draws of z weighted by "
                 "p(x, z)/q(z|x), and is tighter: it is smaller than −ELBO. The gap is what q(z|x) gets wrong about "
                 "the true posterior."),
            Step("Where the KL goes", "The KL per dimension of the same input (the bars under the metrics).",
                 "pages/5_Your_Input.py", {"model": "digits-10d", "test": "3"},
                 "Will all 10 dimensions pay a share of the KL?",
                 ("yes, about equally", "no: a few carry it, the others pay ~0"), 1,
                 "Only some dimensions are used; in the others q(z_d|x) equals the prior, which costs nothing and "
                 "tells the decoder nothing. Grey bars mark them."),
        ),
    ),
    "collapse": Lesson(
        "β and posterior collapse",
        "What the KL weight β does to the code, and how to bring a collapsed code back.",
        (
            Step("β = 1", "digits-10d, trained with β = 1: the KL per dimension on the Traverse page.",
                 "pages/3_Traverse.py", {"model": "digits-10d"},
                 "How many of its 10 dimensions carry information?",
                 ("all 10", "about 6", "none"), 1,
                 "Six have a visible KL bar; four have collapsed onto the prior even at β = 1. A 2-layer decoder "
                 "of 8×8 digits needs only a few numbers."),
            Step("β = 8", "The same model trained with β = 8 (digits-10d-beta8).", "pages/3_Traverse.py",
                 {"model": "digits-10d-beta8"},
                 "What happens to the KL bars at β = 8?",
                 ("they grow", "they all fall to about 0", "they stay as they were"), 1,
                 "Every dimension collapses: a KL eight times as expensive is not worth what z could tell the "
                 "decoder, so the decoder draws an average digit and ignores z. The warning above the page names the "
                 "dimensions; its 'Retrain with a remedy' menu starts a run with free bits, a lower β, a KL warm-up, "
                 "cyclical annealing or a smaller decoder (on digits at β = 8, free bits and a lower β bring the code "
                 "back; warm-up alone does not)."),
        ),
    ),
    "holes": Lesson(
        "Holes in the latent space",
        "Why a VAE can be sampled and a plain autoencoder can't.",
        (
            Step("Two maps, one scale", "digits-2d (a VAE) and digits-ae-2d (an autoencoder of the same shape).",
                 "pages/10_Holes.py", {"model": "digits-2d"},
                 "Whose codes will fill the prior's rings?",
                 ("the VAE's", "the autoencoder's", "both alike"), 0,
                 "The KL pulls the VAE's codes towards N(0, I): they fill the rings. The autoencoder's spread over "
                 "a region several times larger, off-centre: 80% of its test images lie where the prior almost "
                 "never samples."),
            Step("Sampling", "The decodes of prior draws at the bottom of the page.", "pages/10_Holes.py",
                 {"model": "digits-2d"},
                 "Which prior draws decode to clean digits?",
                 ("those deep in holes", "those covered by the data"), 1,
                 "Where the data's codes are dense the decoder was trained, and draws there look like digits; a "
                 "draw in a hole gets a blend or a smudge."),
        ),
    ),
    "interpolation": Lesson(
        "Interpolation",
        "Straight lines through a Gaussian latent space, and great circles.",
        (
            Step("A straight path", "Two test digits and the lerp path between them, with its norm, prior density "
                 "and distance to the data.", "pages/4_Interpolate.py",
                 {"model": "digits-10d", "start": "222", "end": "176", "steps": "12", "path": "lerp"},
                 "Along the straight path between these two digits, what does ‖z‖ do?",
                 ("stays about as at the ends", "dips in the middle", "grows in the middle"), 1,
                 "The two codes point in nearly opposite directions, so their midpoint is close to the centre: ‖z‖ "
                 "falls from 2.6 to 0.4. The prior's density is highest there, but the middle steps are far from "
                 "every encoded digit (the right plot), and decode to a blur that is neither."),
            Step("A great circle", "The same endpoints with slerp.", "pages/4_Interpolate.py",
                 {"model": "digits-10d", "start": "222", "end": "176", "steps": "12", "path": "slerp"},
                 "And along slerp?",
                 ("the norm stays between the endpoints' norms", "it dips further"), 0,
                 "slerp turns along the sphere: the path keeps the endpoints' norm, where the decoder has seen "
                 "codes, and passes through other digits on the way."),
        ),
    ),
    "anomalies": Lesson(
        "Anomaly detection",
        "The reconstruction error and the likelihood as anomaly scores, and where they fail.",
        (
            Step("MNIST model, Fashion-MNIST inputs", "An MNIST VAE scores its own test digits and Fashion-MNIST's "
                 "clothes (needs the MNIST files on the server).", "pages/9_Anomalies.py",
                 {"model": "mnist-mlp-20d", "ood": "fashion-mnist", "score": "neg_elbo"},
                 "How well does −ELBO tell clothes from digits (AUROC)?",
                 ("about 0.5, chance", "close to 1", "below 0.5"), 1,
                 "Clothes score far worse than digits: AUROC 0.9995 (0.9996 with the importance-weighted bound)."),
            Step("And the reverse", "A Fashion-MNIST VAE scoring MNIST digits.", "pages/9_Anomalies.py",
                 {"model": "fashion-mnist-conv-20d", "ood": "mnist", "score": "neg_elbo"},
                 "Will the Fashion-MNIST model flag the digits as unlikely?",
                 ("yes, AUROC close to 1", "no: it finds the digits *more* likely (AUROC < 0.5)"), 1,
                 "AUROC 0.40 (0.35 with the importance-weighted bound): mostly-black digits with a few strokes are "
                 "easy to explain, so their likelihood is high. A high likelihood is not evidence that an input is "
                 "in-distribution (Nalisnick et al., 2019)."),
        ),
    ),
}
