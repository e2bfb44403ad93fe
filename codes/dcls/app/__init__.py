"""``dcls-app``: a local web page (Gradio) to try DCLS on your own images in a browser."""
