"""Simple reference baselines (floors) that any XMC method on a dataset should beat.

Usage::

    from baselines.knn import CharNgramKNN
    model = CharNgramKNN(n_neighbors=20).fit(train_titles, Y_train)
    indices, scores = model.predict_topk(test_titles, k=5)
"""
