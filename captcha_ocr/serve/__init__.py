"""An HTTP service that reads captchas for other programs, and a labeling page for people.

    python -m captcha_ocr.serve --model base --label-folder my_captchas/

- `captcha_ocr.serve.app`: the FastAPI app (`create_app`): `POST /v1/read`,
  `GET /v1/models`, `GET /health`, the labeling page `/label` and its routes.
- `captcha_ocr.inference.readers` (outside this package, as `predict` uses it too): the models,
  whatever their kind (runs, `.keras`, shipped, exports).
- `captcha_ocr.serve.batcher`: micro-batching of concurrent requests.
- `captcha_ocr.serve.inputs`: request bodies and limits.
- `captcha_ocr.serve.labeling`: the labeling queue and its `labels.csv`.
- `captcha_ocr.serve.guard`: who may ask (Host, Origin, JSON-only writes, the token), and JSON for failures.
- `captcha_ocr.serve.connections`: deadlines and caps on the HTTP connections.
- `captcha_ocr.serve.contract`: the OpenAPI document, true to what the routes answer.
"""

from captcha_ocr.serve.app import create_app
from captcha_ocr.serve.guard import Access
from captcha_ocr.serve.inputs import Limits
from captcha_ocr.serve.labeling import LabelSession

__all__ = ["create_app", "Access", "Limits", "LabelSession"]
