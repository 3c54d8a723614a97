"""Reference methods the InceptionXML family is compared with: not the paper's own models.

- ``knn`` / ``knn_model``: the character n-gram kNN floor every method should beat (``knn``).
- ``sparse_peer``, ``omikuji_peers``, ``napkinxc_plt``, ``pecos_xrlinear``: the sparse tree peers run through their
  libraries (``omikuji-parabel``, ``omikuji-bonsai``, ``napkinxc-plt``, ``pecos-xrlinear``).
- ``minilm``, ``lightxml_minilm``: LightXML with a pretrained transformer (``lightxml-minilm``).

LightXML's framework on the InceptionXML encoder (``lightxml``, methods.md §3.5) is SyncXML's machinery with other
heads, so it lives with that machinery in :mod:`inceptionxml.lightxml`.

Usage::

    from baselines.knn import CharNgramKNN
    model = CharNgramKNN(n_neighbors=20).fit(train_titles, Y_train)
    indices, scores = model.predict_topk(test_titles, k=5)
"""
