"""InceptionXML (Kharbanda et al., SIGIR 2023): a lightweight convolutional encoder for short-text XMC.

Usage::

    from harness.models import model_registry
    model = model_registry.get("inceptionxml")(epochs=20)   # inceptionxml.model.InceptionXMLModel

Modules: ``config`` (hyper-parameters), ``text`` (cleaning, vocabulary), ``embeddings`` (GloVe, MiniLM,
random), ``attention`` and ``encoder`` (the network), ``heads`` (classifiers), ``train`` (the loop),
``model`` (the standalone model under the harness contract), ``shortlist``/``shortlist_net``/``shortlist_model``
(the shortlister machinery SyncXML and the LightXML-style model share), ``syncxml`` and ``lightxml`` (LightXML's
framework on this encoder, methods.md §3.5). Importing the package
does not import torch.
"""
