"""The OpenAPI document of the service: what each route takes and every answer it can give.

The document is the contract a generated client relies on, and a test runs
schemathesis against it with all its checks. So: request bodies say what is
required (`/v1/read` at least one image, `min_confidence` a number from 0 to
1; the labeling routes a JSON object with exactly their fields); every
status a route can answer is listed, each refusal with the one-line JSON
`Error`; names that are facts of this server (the loaded models, the
labeling folder's files) are enums. FastAPI's own 422 is not listed: the
service answers validation errors with 400, as every other client mistake.
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field

from captcha_ocr.serve.labeling import MAX_LABEL_LENGTH

ENUM_LIMIT = 2000  # folders with more files list none (the document would grow past what clients want)
IMAGE_TYPES = ("image/png", "image/jpeg", "image/gif", "image/bmp")


class Position(BaseModel):
    char: str = Field(description='"" where the model reads the pad (no character at this position)')
    confidence: float


class Reading(BaseModel):
    file: str
    text: str | None = None
    confidence: float | None = Field(None, description="the product of the positions' probabilities; for an "
                                                       "empty reading, the probability of reading nothing")
    abstained: bool | None = None
    positions: list[Position] | None = None
    error: str | None = None


class Error(BaseModel):
    """Every refusal: one line naming the problem and the fix."""

    error: str
    results: list[Reading] | None = Field(None, description="/v1/read: each image's error, when none was read")
    unknown: str | None = Field(None, description="labeling: the label's characters outside the session's "
                                                  "charset, to confirm with add_chars")


class Lengths(BaseModel):
    min: int
    max: int


class ReadResponse(BaseModel):
    model: str
    min_confidence: float
    length: Lengths | None = Field(None, description="the lengths the request told (absent when it told none)")
    chars: str | None = Field(None, description="the characters the request told (absent when it told none)")
    results: list[Reading]


class Calls(BaseModel):
    images: int
    calls: int


class Health(BaseModel):
    status: str
    models: dict[str, Calls]


class InputSize(BaseModel):
    height: int
    width: int
    channels: int
    resize: str


class ModelInfo(BaseModel):
    name: str
    source: str
    kind: str
    charset: str
    length: Lengths
    input: InputSize
    loss: str
    positions: bool
    views: int = Field(description="views each captcha is read in, the mean of their probabilities taken (serve --views)")


class Models(BaseModel):
    default: str
    models: list[ModelInfo]


class Unreadable(BaseModel):
    file: str
    error: str


class Agreement(BaseModel):
    agreed: int
    compared: int
    rate: float | None


class Item(BaseModel):
    file: str
    text: str
    confidence: float
    positions: list[Position]


class LabelState(BaseModel):
    folder: str
    total: int
    labeled: int
    remaining: int
    unreadable: list[Unreadable]
    agreement: Agreement
    can_undo: bool
    item: Item | None
    train_command: str | None
    charset: str = Field(description="the characters a label may use: the model's, --charset's and those "
                                     "confirmed on the page")


class _Body(BaseModel):
    model_config = ConfigDict(extra="forbid")


class LabelBody(_Body):
    # The lengths are documented here and checked by `labeling.check_label`, whose messages say what to do.
    text: str = Field(json_schema_extra={"minLength": 1, "maxLength": MAX_LABEL_LENGTH},
                      description="the captcha's text: characters of the session's charset, not the pad")
    add_chars: str = Field("", max_length=MAX_LABEL_LENGTH,
                           description="characters of `text` outside the charset that the person confirmed: "
                                       "from then on they are part of it (others are ignored)")


class FileBody(_Body):
    file: str


class UndoBody(_Body):
    """An empty JSON object: the route takes JSON only, as every route that changes state."""


def errors(*statuses: int) -> dict:
    """FastAPI `responses` for these statuses, each the one-line JSON `Error`."""
    return {status: {"model": Error, "description": _WHY[status]} for status in statuses}


_WHY = {
    400: "a malformed request (headers, body or fields); the message says which",
    401: "no token, or the wrong one",
    403: "a foreign Host, a request from another site, or a write that is not JSON",
    404: "no such model or file",
    408: "the body did not arrive in time",
    409: "nothing to undo",
    413: "a body, or an image, over the service's limits",
    415: "an unsupported content type",
    500: "the server failed (logged)",
}
EVERY_ROUTE = (400, 403, 408, 413, 500)  # Host and body checks, deadlines and failures apply to every request


def read_body(model_names: list[str], max_images: int) -> dict:
    """The `/v1/read` request body (`openapi_extra`): multipart files, JSON base64, or one raw image."""
    fraction = {"type": "number", "minimum": 0, "maximum": 1,
                "description": "readings below it are abstained (default: the server's --min-confidence)"}
    model = {"type": "string", "enum": model_names, "description": "default: the first"}
    b64 = {"type": "string", "format": "byte", "minLength": 1, "description": "base64 of a PNG, JPEG, GIF or BMP file"}
    files = {"type": "array", "items": {"type": "string", "format": "binary"}, "minItems": 1, "maxItems": max_images}
    told = "Keras models only (an export decodes in its graph); default: the server's, else what the model was trained on"
    length = {"type": "string", "pattern": "^[0-9]+(-[0-9]+)?$", "description": "the lengths the captchas have, N or "
              "LOW-HIGH characters (1 <= LOW <= HIGH <= the model's length.max): a ctc model's reads are held to them; "
              + told}
    chars = {"type": "string", "minLength": 1, "description": "the characters the captchas use, of the model's "
             "charset: only those are read; " + told}
    options = {"model": model, "min_confidence": fraction, "length": length, "chars": chars}
    return {"requestBody": {"required": True, "content": {
        "multipart/form-data": {"schema": {
            "type": "object", "required": ["image"], "additionalProperties": False,
            "properties": {"image": files, **options}}},
        "application/json": {"schema": {
            "type": "object", "additionalProperties": False,
            "properties": {"images": {"type": "array", "items": b64, "minItems": 1, "maxItems": max_images},
                           "image": b64, **options,
                           "length": {"oneOf": [{"type": "integer", "minimum": 1}, length]}},
            "oneOf": [{"required": ["images"], "not": {"required": ["image"]}},
                      {"required": ["image"], "not": {"required": ["images"]}}]}},
        **{kind: {"schema": {"type": "string", "format": "binary"}} for kind in (*IMAGE_TYPES,
                                                                                "application/octet-stream")},
    }}, "parameters": [
        {"name": name, "in": "query", "required": False, "schema": schema} for name, schema in options.items()
    ]}


def finish(schema: dict, files: list[str] | None, token: bool, public: set[str]) -> dict:
    """FastAPI's document, made true to the service.

    Drops FastAPI's 422 (the service answers 400), lists the labeling folder's files as the enum of
    every `file` (up to ENUM_LIMIT), and with a token declares bearer security and 401 on the routes
    that need it (all but `public`).
    """
    components = schema.setdefault("components", {})
    components.get("schemas", {}).pop("HTTPValidationError", None)
    components.get("schemas", {}).pop("ValidationError", None)
    if token:
        components["securitySchemes"] = {"token": {"type": "http", "scheme": "bearer",
                                                   "description": "--token, or $CAPTCHA_OCR_TOKEN"}}
    for path, operations in schema.get("paths", {}).items():
        for operation in operations.values():
            operation.get("responses", {}).pop("422", None)
            if token and path not in public:
                operation["security"] = [{"token": []}]
                operation["responses"]["401"] = {
                    "description": _WHY[401],
                    "headers": {"WWW-Authenticate": {"required": True, "schema": {"type": "string"}}},
                    "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}}}
            if files is not None and len(files) <= ENUM_LIMIT:
                for parameter in operation.get("parameters", []):
                    if parameter["name"] == "file":
                        parameter["schema"] = {**parameter["schema"], "enum": files}
    if files is not None and len(files) <= ENUM_LIMIT and "FileBody" in components.get("schemas", {}):
        components["schemas"]["FileBody"]["properties"]["file"]["enum"] = files
    return schema
