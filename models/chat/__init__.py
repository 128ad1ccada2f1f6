"""Chat on top of the generation engine: presets, per-conversation settings, fitting a
conversation into the model's context, and swapping the loaded model.

Plain Python values in and out; torch and transformers are imported only when a model is used.
"""
from models.chat.context import FittedPrompt, fit_prompt
from models.chat.model_slot import ModelSlot
from models.chat.reply import ChatReply, respond
from models.chat.settings import DEFAULT_PRESET, PRESETS, ChatSettings

__all__ = [
    "DEFAULT_PRESET", "PRESETS", "ChatReply", "ChatSettings", "FittedPrompt", "ModelSlot", "fit_prompt", "respond",
]
