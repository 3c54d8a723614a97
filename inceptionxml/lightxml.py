"""LightXML-style dynamic negative mining (methods.md §3) on the InceptionXML encoder, registered as "lightxml".

Usage::

    model = model_registry.get("lightxml")(epochs=15)
    model.fit(train, val, ctx=FitContext(seed=0, num_labels=L, inv_prop=w))
    model.predict_topk(["golden retriever"], k=5)          # σ(ext)·σ(meta), LightXML's scoring

This is §3.5's construction: SyncXML's machinery with LightXML's heads (one dropout on h, a plain Linear over
clusters and an un-activated Linear bottleneck for the label query), LightXML's clusters (balanced 2-means on
plain PIFA, leaves of at most 100 labels), top-K clusters, no detached warm-up, σ×σ scoring and every positive
trained on. The optimiser is InceptionXML's (Adam + OneCycle at 5e-3), not LightXML's AdamW 1e-4 with SWA: the
encoder here trains from scratch, and keeping the optimiser equal to SyncXML's leaves the negative mining as
the only difference between the two models, which is the comparison the harness exists for.
The transformer version is ``lightxml-minilm`` (``baselines.lightxml_minilm``).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from harness.models.config_types import AT_LEAST_ONE, DROPOUT, NON_NEGATIVE
from harness.models.deviations import changed_settings
from inceptionxml.config import InceptionXMLConfig
from inceptionxml.model import schedule_deviations
from inceptionxml.shortlist_model import ShortlistFields
from inceptionxml.syncxml import InceptionShortlistModel

LIGHTXML_CITATION = (
    "Jiang et al. LightXML: Transformer with Dynamic Negative Sampling for High-Performance Extreme Multi-label "
    "Text Classification. AAAI 2021. arXiv:2101.03305"
)


@dataclass(frozen=True)
class LightXMLShortlistFields(ShortlistFields):
    """LightXML's shortlist (§3.2–§3.3), whatever the encoder: shared by ``lightxml`` and ``lightxml-minilm``."""

    max_leaf: int | None = field(
        default=100, metadata={"help": "LightXML: clusters of at most 100 labels", **AT_LEAST_ONE}
    )
    cluster_graph: bool = field(default=False, metadata={"help": "LightXML clusters plain PIFA (no label graph)"})
    top_k_clusters: int = field(
        default=10, metadata={"help": "clusters shortlisted per query (LightXML default)", **AT_LEAST_ONE}
    )
    meta_epoch: int = field(default=0, metadata={"help": "LightXML has no detached phase", **NON_NEGATIVE})
    missing_positives: bool = field(default=True, metadata={"help": "positives outside the shortlist are trained"})
    score: str = field(default="combined", metadata={"help": "LightXML scores σ(ext)·σ(meta)"})
    feature_dropout: float = field(
        default=0.5, metadata={"help": "dropout on the encoder's feature before both heads (LightXML)", **DROPOUT}
    )
    bottleneck_dim: int = field(
        default=300, metadata={"help": "label-query width (LightXML hidden_dim 300-500)", **AT_LEAST_ONE}
    )


@dataclass(frozen=True)
class LightXMLConfig(InceptionXMLConfig, LightXMLShortlistFields):
    """InceptionXML's encoder settings plus LightXML's shortlist (§3.2–§3.3); optimiser as InceptionXML's."""

    eval_batch_size: int = field(
        default=256, metadata={"help": "batch for validation/inference (× candidates)", **AT_LEAST_ONE}
    )

    def __post_init__(self) -> None:
        super().__post_init__()
        self._check_shortlist()


class LightXMLModel(InceptionShortlistModel):
    """LightXML's framework (§3.3) on the InceptionXML encoder (§3.5), the negative-mining peer of SyncXML."""

    name = "lightxml"
    Config = LightXMLConfig
    head_kind = "lightxml"
    citation = LIGHTXML_CITATION

    def deviations(self) -> list[str]:
        cfg, out = self.config, self._encoder_deviations()
        out.insert(0, "InceptionXML encoder inside LightXML's framework (§3.5's construction; LightXML uses BERT)")
        out.extend(self.shortlist_deviations())
        out.append(
            f"optimiser: InceptionXML's Adam at lr {cfg.lr}, batch {cfg.batch_size}, SyncXML's schedule "
            "(LightXML: AdamW 1e-4, constant, SWA), so that only the negative mining differs from SyncXML"
        )
        out.extend(schedule_deviations(cfg))
        out.extend(framework_deviations(cfg))
        out.extend(changed_settings(cfg, {"top_k_clusters": 10}, "LightXML default; 75 on Amazon-670K"))
        return out


def framework_deviations(cfg: LightXMLConfig | Any) -> list[str]:
    """How this LightXML framework differs from the official code, whatever the encoder (shared with MiniLM)."""
    out = [
        "one model, one clustering (LightXML's published numbers ensemble three)",
        "short candidate rows padded with a zero dummy label and masked (LightXML repeats the last candidate); "
        "missed positives appended as extra columns rather than overwriting negatives",
    ]
    return out + changed_settings(cfg, {"max_leaf": 100, "feature_dropout": 0.5}, "LightXML")
