"""aiplane's model server: one registry model version, staged on disk and verified, served
over the Open Inference Protocol (KServe v2) with request batching. ``python -m
aiplane.modelserver`` is an endpoint replica's command; scikit-learn and ONNX flavours need
the ``serve`` extra."""
