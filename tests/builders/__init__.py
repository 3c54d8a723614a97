"""Tests of the dataset builders, the embedded-dataset checksums and the baseline floors."""
