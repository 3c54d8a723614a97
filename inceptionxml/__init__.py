"""InceptionXML (Kharbanda et al., SIGIR 2023): a lightweight convolutional encoder for short-text XMC.

Usage::

    from harness.models import model_registry
    model = model_registry.get("inceptionxml")(epochs=20)   # inceptionxml.adapter.InceptionXMLModel

Modules: ``config`` (hyper-parameters), ``text`` (cleaning, vocabulary), ``embeddings`` (GloVe, MiniLM,
random), ``attention`` and ``encoder`` (the network), ``heads`` (classifiers), ``train`` (the loop),
``adapter`` (the harness contract). Importing the package does not import torch.
"""
