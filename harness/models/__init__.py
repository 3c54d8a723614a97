"""The model registry: names → lazy ``"module:Class"`` targets, so listing models never imports torch.

Usage::

    from harness.models import model_registry
    model_registry.names()              # canonical names, e.g. ["inceptionxml", ...]
    cls = model_registry.get("inceptionxml")

Models are added here, one line each (docs/adding-a-model.md: one file plus this line; a model in your own
package registers itself through ``$HARNESS_PLUGINS`` instead).
"""

from __future__ import annotations

from harness.registry import Registry

model_registry: Registry = Registry("model")
model_registry.register_lazy("inceptionxml", "inceptionxml.model:InceptionXMLModel")
model_registry.register_lazy("syncxml", "inceptionxml.syncxml:SyncXMLModel")
model_registry.register_lazy("lightxml", "inceptionxml.lightxml:LightXMLModel")
model_registry.register_lazy("lightxml-minilm", "baselines.lightxml_minilm:LightXMLMiniLMModel")
model_registry.register_lazy("pecos-xrlinear", "baselines.pecos_xrlinear:PecosXRLinearModel")  # extra: pecos
model_registry.register_lazy("knn", "baselines.knn_model:KNNModel")
model_registry.register_lazy("omikuji-parabel", "baselines.omikuji_peers:OmikujiModel")
model_registry.register_lazy("omikuji-bonsai", "baselines.omikuji_peers:OmikujiBonsaiModel")
model_registry.register_lazy("napkinxc-plt", "baselines.napkinxc_plt:NapkinXCPLTModel")
