"""The MLflow models-from-code definition of the registered sequence model.

MLflow copies this file into the logged model and runs it on load: it defines
:class:`FusionSequencePyfunc` and hands it to :func:`mlflow.models.set_model`. The weights
travel as the ``model`` artifact (``model.json`` + ``weights.pt``) and load with
``torch.load(weights_only=True)``, so loading works with pickle deserialization disabled.

Input: grouped alerts, one row per alert (:data:`fusion_ml.registry.INPUT_COLUMNS`;
``timestamp`` as naive UTC datetimes or ISO text: :func:`fusion_ml.registry.to_model_input`
converts a canonical frame). Output: one row per group, ``group_id``, ``score`` and
``is_attack`` (score at or above the model's threshold).
"""

from __future__ import annotations

import mlflow
from mlflow.pyfunc import PythonModel


class FusionSequencePyfunc(PythonModel):
    """Scores candidate groups with a :class:`fusion_ml.nn.SequenceModel`."""

    def load_context(self, context) -> None:
        """Load the saved model folder of the ``model`` artifact."""
        from fusion_ml.nn import SequenceModel

        self.model = SequenceModel.load(context.artifacts["model"])

    def predict(self, context, model_input, params=None):
        """Group scores for the alerts in ``model_input`` (a DataFrame)."""
        from fusion_ml.registry import prepare_input, score_frame

        return score_frame(self.model, prepare_input(model_input))


mlflow.models.set_model(FusionSequencePyfunc())
