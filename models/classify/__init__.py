"""Classification with BERT-style models, three ways, one interface:

    ZeroShotClassifier(encoder, labels, descriptions=None)   no examples needed
    FewShotClassifier(encoder, labels, examples, ...)        logistic regression on frozen embeddings
    FineTunedClassifier.load(path)                           a sequence classifier from fine-tuning

Each has `.predict(texts) -> list[Prediction]`; long texts are cut into overlapping token
windows and the windows' scores averaged, the strongest window kept as evidence.
`build_classifier(spec, registry)` makes the right one from a stored spec, and `explain`
shows which words mattered.
"""
from models.classify.build import METHODS, build_classifier
from models.classify.encoder import Encoder, shared_encoder
from models.classify.explain import Explanation, explain
from models.classify.few_shot import FewShotClassifier
from models.classify.fine_tuned import FineTunedClassifier
from models.classify.prediction import Cancelled, Prediction, RunControl
from models.classify.zero_shot import ZeroShotClassifier

__all__ = [
    "METHODS", "Cancelled", "Encoder", "Explanation", "FewShotClassifier", "FineTunedClassifier", "Prediction",
    "RunControl", "ZeroShotClassifier", "build_classifier", "explain", "shared_encoder",
]
