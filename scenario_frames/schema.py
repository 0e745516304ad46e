"""The model record of ``GET /v1/models``, written once.

Every field the API reference documents is declared here with its JSON kind, the table it
lands in, its column name and a one-line description.  The demo server's generator, the
polars table schemas and the data dictionary are all derived from this tree, so a field
added here shows up everywhere at once.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Literal, get_args

import polars as pl

Kind = Literal[
    "string",  # free text or an identifier
    "number",  # a JSON number, kept as Float64
    "integer",  # a JSON number that is a code or count by nature, kept as Int64
    "bool",
    "datetime",  # an ISO 8601 string, kept as Datetime(UTC)
    "epoch_ms",  # milliseconds since the epoch, kept as Datetime(UTC)
    "enum",  # a string from a known set; unknown values are kept as they come
    "int_enum",  # an integer from a known set; unknown values are kept
    "list_string",  # a list of strings, kept as List(String)
    "list_enum",  # a list of strings from a known set, kept as List(String)
    "json",  # anything (maps with free keys, mixed types): kept as JSON text
]

# ---------------------------------------------------------------------------------------------
# Enumerations documented by the reference.  Values outside them are kept, never refused.
# ---------------------------------------------------------------------------------------------

MODEL_TYPES: tuple[str, ...] = (
    "sd-1_5",
    "sd-1_5-lora",
    "sd-1_5-composition",
    "sd-xl",
    "sd-xl-lora",
    "sd-xl-composition",
    "flux.1",
    "flux.1-lora",
    "flux.1-kontext-dev",
    "flux.1-krea-dev",
    "flux.1-kontext-lora",
    "flux.1-krea-lora",
    "flux.1-composition",
    "flux.1-pro",
    "flux1.1-pro",
    "flux.1.1-pro-ultra",
    "flux.2-dev-lora",
    "flux.2-dev-edit-lora",
    "flux.2-klein-4b-lora",
    "flux.2-klein-9b-lora",
    "flux.2-klein-base-4b-lora",
    "flux.2-klein-base-9b-lora",
    "flux.2-klein-4b-edit-lora",
    "flux.2-klein-9b-edit-lora",
    "flux.2-klein-base-4b-edit-lora",
    "flux.2-klein-base-9b-edit-lora",
    "gpt-image-1",
    "qwen-image-lora",
    "qwen-image-2512-lora",
    "qwen-image-edit-lora",
    "qwen-image-edit-2509-lora",
    "qwen-image-edit-2511-lora",
    "zimage-lora",
    "zimage-turbo-lora",
    "zimage-de-turbo-lora",
    "custom",
    "elevenlabs-voice",
)

CAPABILITIES: tuple[str, ...] = (
    "3d23d",
    "audio2audio",
    "audio2txt",
    "audio2video",
    "controlnet",
    "controlnet_img2img",
    "controlnet_inpaint",
    "controlnet_inpaint_ip_adapter",
    "controlnet_ip_adapter",
    "controlnet_reference",
    "controlnet_texture",
    "img23d",
    "img2img",
    "img2img_ip_adapter",
    "img2img_texture",
    "img2txt",
    "img2video",
    "inpaint",
    "inpaint_ip_adapter",
    "outpaint",
    "reference",
    "reference_texture",
    "txt23d",
    "txt2audio",
    "txt2img",
    "txt2img_ip_adapter",
    "txt2img_texture",
    "txt2txt",
    "txt2video",
    "video23d",
    "video2audio",
    "video2img",
    "video2txt",
    "video2video",
)

MODEL_PRIVACY = ("private", "public", "unlisted")
MODEL_SOURCE = ("civitai", "huggingface", "other", "scenario")
MODEL_STATUS = ("copying", "failed", "new", "trained", "training", "training-canceled")
ACCESS_RESTRICTIONS = (0, 25, 50, 75, 100)
CLASS_STATUS = ("published", "unpublished")
INPUT_TYPES = (
    "boolean",
    "file",
    "file_array",
    "inputs_array",
    "model",
    "model_array",
    "number",
    "number_array",
    "string",
    "string_array",
)
INPUT_KINDS = ("3d", "audio", "document", "image", "image-hdr", "json", "text", "video")
BACKGROUND_BEHAVIOR = ("opaque", "transparent")
LR_SCHEDULERS = (
    "constant",
    "constant-with-warmup",
    "cosine",
    "cosine-with-restarts",
    "linear",
    "polynomial",
)
OPTIMIZE_FOR = ("likeness",)
TRAINING_STAGES = (
    "pending",
    "pending-captcha",
    "queued-for-train",
    "ready-for-captcha",
    "running-train",
    "starting-train",
)
CONDITION_OPERATORS = ("and", "or")
TRIGGER_POSITIONS = ("bottom", "top")

# Query-side enumerations of GET /models (they differ from the record's own enums).  Each is
# written once as a ``Literal`` type (the public keyword arguments are typed with it) and its
# values are read back from that type for the run-time checks.
QueryPrivacy = Literal["private", "public"]
QueryStatus = Literal["new", "training", "trained", "failed", "deleted"]
QuerySortBy = Literal["createdAt", "updatedAt", "score"]
QuerySortDirection = Literal["asc", "desc"]
QUERY_PRIVACY: tuple[str, ...] = get_args(QueryPrivacy)
QUERY_STATUS: tuple[str, ...] = get_args(QueryStatus)
QUERY_SORT_BY: tuple[str, ...] = get_args(QuerySortBy)
QUERY_SORT_DIRECTION: tuple[str, ...] = get_args(QuerySortDirection)


# ---------------------------------------------------------------------------------------------
# The tree
# ---------------------------------------------------------------------------------------------


def snake(name: str) -> str:
    """Turn an API name into a column name: ``costPerAssetP50CU`` -> ``cost_per_asset_p50_cu``."""
    name = re.sub(r"(?<=[a-z0-9])(?=[A-Z])|(?<=[A-Z])(?=[A-Z][a-z])", "_", name)
    return name.lower()


@dataclass(frozen=True)
class Field:
    """One leaf value of a record: its API key, kind, meaning and how the demo fills it."""

    key: str
    kind: Kind
    doc: str
    required: bool = False
    enum: tuple = ()
    gen: str = ""  # a hint for the demo generator (e.g. "asset_id", "url", "sentence")
    column: str | None = None  # column name override (before the parent's prefix)
    minimum: float | None = None
    maximum: float | None = None

    @property
    def col(self) -> str:
        return self.column if self.column is not None else snake(self.key)


@dataclass(frozen=True)
class Obj:
    """A nested object whose fields are flattened into the parent's table with a prefix."""

    key: str
    doc: str
    fields: tuple[Node, ...]
    required: bool = False
    prefix: str | None = None  # column prefix override; "" means no prefix

    @property
    def col(self) -> str:
        return self.prefix if self.prefix is not None else snake(self.key)


@dataclass(frozen=True)
class ListOf:
    """A list of objects that becomes rows of a child table, keyed by the parent's key.

    ``nested`` lists are exploded into the same table (one row per nested item, parent
    columns repeated); ``recursive`` lists hold members of the same shape as their parent,
    which become rows too, tagged with the parent's name.
    """

    key: str
    table: str
    doc: str
    fields: tuple[Node, ...]
    required: bool = False
    nested: ListOf | None = None
    recursive: str | None = None  # the key holding same-shape members (inputs_array)
    recursive_parent_column: str = "parent_name"
    recursive_parent_key: str = "name"


Node = Field | Obj | ListOf


def _f(key: str, kind: Kind, doc: str, **kw) -> Field:
    return Field(key, kind, doc, **kw)


_CLASS = Obj(
    "class",
    "The class (style family) the model was trained in.",
    (
        _f("category", "string", "Category slug of the class.", required=True, gen="slug"),
        _f(
            "conceptPrompt",
            "string",
            "Prompt that names the trained concept within the class.",
            required=True,
            gen="prompt",
        ),
        _f(
            "modelId", "string", "Base model the class belongs to.", required=True, gen="base_model"
        ),
        _f("name", "string", "Human name of the class.", required=True, gen="title"),
        _f("prompt", "string", "Prompt describing the class.", required=True, gen="prompt"),
        _f("slug", "string", "Unique slug of the class.", required=True, gen="slug"),
        _f(
            "status",
            "enum",
            "Whether the class is still offered (published) or retired.",
            required=True,
            enum=CLASS_STATUS,
        ),
        _f(
            "thumbnails",
            "list_string",
            "Example image URLs for the class.",
            required=True,
            gen="urls",
        ),
    ),
)

_CONCEPTS = ListOf(
    "concepts",
    "concepts",
    "Models combined by a composition model, with their weights.",
    (
        _f(
            "modelId",
            "string",
            "Model used as a concept.",
            required=True,
            column="concept_model_id",
            gen="model_ref",
        ),
        _f(
            "scale",
            "number",
            "Weight of the concept, between -2 and 2.",
            required=True,
            minimum=-2,
            maximum=2,
        ),
        _f(
            "modelEpoch",
            "string",
            "Epoch of the concept model to use, when not the last one.",
            gen="epoch",
        ),
    ),
)

_EPOCHS = ListOf(
    "epochs",
    "epochs",
    "Training epochs of a LoRA, one row per sample asset of each epoch.",
    (_f("epoch", "string", "Hash that identifies the epoch.", required=True, gen="epoch"),),
    nested=ListOf(
        "assets",
        "epochs",
        "Sample images produced at the end of the epoch.",
        (
            _f("assetId", "string", "Asset id of the sample image.", required=True, gen="asset_id"),
            _f("url", "string", "Address of the sample image.", required=True, gen="url"),
        ),
    ),
)

_REQUIRED = Obj(
    "required",
    "When the input must be given.",
    (
        _f("always", "bool", "The input is always required."),
        Obj(
            "conditional",
            "Required when other inputs hold listed values.",
            (
                _f(
                    "values",
                    "json",
                    "The conditions: input name -> values that make this input required.",
                    required=True,
                ),
                _f(
                    "operator",
                    "enum",
                    "How several conditions combine: all (and) or any (or).",
                    enum=CONDITION_OPERATORS,
                ),
            ),
            prefix="condition",
        ),  # required_condition_*: required_conditional_values is conditionalValues
        _f(
            "conditionalValues",
            "json",
            "Required when another input holds one of some values (input name -> rule).",
        ),
        _f("ifDefined", "json", "Required when another input is given (input name -> message)."),
        _f(
            "ifNotDefined",
            "json",
            "Required when another input is missing (input name -> message).",
        ),
    ),
)

_INPUTS = ListOf(
    "inputs",
    "inputs",
    "Inputs a custom model accepts, nested array members included.",
    (
        _f(
            "name",
            "string",
            "Name used to pass the input through the API.",
            required=True,
            gen="input_name",
        ),
        _f(
            "type",
            "enum",
            "Data type of the input.",
            required=True,
            enum=INPUT_TYPES,
            column="input_type",
        ),
        _f(
            "allowedValues",
            "json",
            "Values the input may take (JSON text; mixed types are possible).",
        ),
        _f(
            "backgroundBehavior",
            "enum",
            "Background handling for image file inputs.",
            enum=BACKGROUND_BEHAVIOR,
        ),
        _f("color", "bool", "The string input holds a colour."),
        _f("costImpact", "bool", "The input changes the cost of a generation."),
        _f("default", "json", "Default value (JSON text; any JSON type)."),
        _f("description", "string", "Help text shown under the input.", gen="sentence"),
        _f("group", "string", "UI group the input is shown in.", gen="word"),
        _f("hint", "string", "Tooltip text of the input.", gen="sentence"),
        _f("kind", "enum", "Asset kind accepted by a file input.", enum=INPUT_KINDS),
        _f("label", "string", "Label shown in the UI.", gen="title"),
        _f("maskFrom", "string", "File input whose content serves as the mask.", gen="input_name"),
        _f("max", "number", "Largest value allowed (numbers and arrays)."),
        _f("maxDuration", "number", "Longest audio or video file allowed, in seconds.", minimum=0),
        _f("maxLength", "number", "Longest string allowed."),
        _f("maxSize", "number", "Largest file allowed, in bytes."),
        _f("min", "number", "Smallest value allowed (numbers and arrays)."),
        _f("minDuration", "number", "Shortest audio or video file allowed, in seconds.", minimum=0),
        _f("minLength", "number", "Shortest string allowed."),
        _f("modelTypes", "list_enum", "Model types a model_array input accepts.", enum=MODEL_TYPES),
        _f("parent", "bool", "The file becomes the parent asset of the outputs."),
        _f("placeholder", "string", "Placeholder text of a string input.", gen="sentence"),
        _f("prompt", "bool", "The string input is a prompt."),
        _f("promptSpark", "bool", "The prompt input offers prompt spark."),
        _REQUIRED,
        _f("step", "number", "Increment of a number input.", minimum=1),
    ),
    recursive="inputs",
)

_PARAMETERS = Obj(
    "parameters",
    "Training parameters of the model.",
    (
        _f("age", "string", "Age group of a cloned voice.", gen="age"),
        _f("batchSize", "number", "Training batch size (Flux LoRA).", minimum=1, maximum=4),
        _f(
            "classPrompt",
            "string",
            "Prompt for prior-preservation images of the class (SD 1.5).",
            gen="prompt",
        ),
        _f(
            "cloneType",
            "string",
            "Voice cloning flavour: instant or professional.",
            gen="clone_type",
        ),
        _f(
            "conceptPrompt",
            "string",
            "Prompt with the identifier of the trained subject.",
            gen="prompt",
        ),
        _f("gender", "string", "Gender of a cloned voice.", gen="gender"),
        _f("language", "string", "ISO 639-1 language of voice samples.", gen="language"),
        _f("learningRate", "number", "Initial learning rate.", minimum=0),
        _f(
            "learningRateTextEncoder",
            "number",
            "Initial learning rate of the text encoder.",
            minimum=0,
            maximum=0.001,
        ),
        _f(
            "learningRateUnet",
            "number",
            "Initial learning rate of the UNet (SDXL LoRA).",
            minimum=0,
        ),
        _f("lrScheduler", "enum", "Learning-rate schedule.", enum=LR_SCHEDULERS),
        _f("maxTrainSteps", "number", "Upper bound on training steps.", minimum=0, maximum=40000),
        _f("nbEpochs", "number", "Number of epochs (Flux LoRA).", minimum=1, maximum=30),
        _f(
            "nbRepeats",
            "number",
            "Repeats of each image per epoch (Flux LoRA).",
            minimum=1,
            maximum=30,
        ),
        _f(
            "numTextTrainSteps",
            "number",
            "Training steps of the text encoder (SDXL LoRA).",
            minimum=0,
            maximum=40000,
        ),
        _f(
            "numUNetTrainSteps",
            "number",
            "Training steps of the UNet (SDXL LoRA).",
            minimum=0,
            maximum=40000,
        ),
        _f(
            "optimizeFor",
            "enum",
            "Which transformer blocks training targets (Flux LoRA).",
            enum=OPTIMIZE_FOR,
        ),
        _f("priorLossWeight", "number", "Weight of the prior-preservation loss.", minimum=0),
        _f("randomCrop", "bool", "Random rather than centre crops before resizing."),
        _f("randomCropRatio", "number", "Share of random crops.", minimum=0, maximum=1),
        _f("randomCropScale", "number", "Scale of random crops.", minimum=0, maximum=1),
        _f("rank", "number", "Rank of the LoRA update matrices.", minimum=2, maximum=128),
        _f("removeBackgroundNoise", "bool", "Denoise voice samples before cloning."),
        _f(
            "samplePrompts",
            "list_string",
            "Prompts rendered after each epoch (Flux LoRA).",
            gen="prompts",
        ),
        _f(
            "sampleSourceImages",
            "list_string",
            "Asset ids paired with the sample prompts.",
            gen="asset_ids",
        ),
        _f("scaleLr", "bool", "Legacy: scale the learning rate."),
        _f("seed", "number", "Random seed of the training.", minimum=0, maximum=9007199254740991),
        _f(
            "textEncoderTrainingRatio",
            "number",
            "Legacy: share of steps spent on the text encoder.",
            minimum=0,
            maximum=0.99,
        ),
        _f("validationFrequency", "number", "Steps between validations.", minimum=0),
        _f("validationPrompt", "string", "Prompt used for validation images.", gen="prompt"),
        _f("voiceDescription", "string", "Description of a cloned voice.", gen="sentence"),
        _f(
            "wandbKey",
            "string",
            "Weights & Biases key used for logging (at most 40 characters).",
            gen="hash",
        ),
    ),
)

_VARIANTS = ListOf(
    "variants",
    "variants",
    "Cost and latency per capability and resolution, one row per variant.",
    (
        _f(
            "capability",
            "string",
            "Capability the variant measures (e.g. txt2img).",
            required=True,
            gen="capability",
        ),
        _f("computedAt", "datetime", "When the figures were computed.", required=True),
        _f(
            "variantKey",
            "string",
            "Unique key of the variant (e.g. txt2img:1K).",
            required=True,
            gen="variant_key",
        ),
        Obj(
            "arenaScore",
            "External arena leaderboard score.",
            (
                _f(
                    "arenaCategory",
                    "string",
                    "Arena category (e.g. text_to_image).",
                    required=True,
                    column="category",
                    gen="arena_category",
                ),
                _f(
                    "arenaModelName",
                    "string",
                    "Name of the model on the arena.",
                    required=True,
                    column="model_name",
                    gen="title",
                ),
                _f("fetchedAt", "datetime", "When the score was fetched.", required=True),
                _f("rank", "number", "Rank in the arena category.", required=True),
                _f("rating", "number", "Elo rating.", required=True),
                _f(
                    "ratingLower",
                    "number",
                    "Lower bound of the rating's confidence interval.",
                    required=True,
                ),
                _f(
                    "ratingUpper",
                    "number",
                    "Upper bound of the rating's confidence interval.",
                    required=True,
                ),
                _f("votes", "number", "Number of human votes behind the rating.", required=True),
            ),
            prefix="arena",
        ),
        _f(
            "costPerAssetMaxCU",
            "number",
            "Highest cost per output asset, in compute units.",
            minimum=0,
        ),
        _f(
            "costPerAssetMinCU",
            "number",
            "Lowest cost per output asset, in compute units.",
            minimum=0,
        ),
        _f(
            "costPerAssetP50CU",
            "number",
            "Median cost per output asset, in compute units.",
            minimum=0,
        ),
        _f(
            "inferenceLatencyP50Sec",
            "number",
            "Median inference time per asset, in seconds.",
            minimum=0,
        ),
        _f(
            "inferenceLatencyP75Sec",
            "number",
            "75th percentile inference time per asset, in seconds.",
            minimum=0,
        ),
        _f("resolution", "string", "Resolution bucket (0.5K, 1K, 2K, 4K).", gen="resolution"),
        _f(
            "totalLatencyP50Sec",
            "number",
            "Median time per asset including the queue, in seconds.",
            minimum=0,
        ),
        _f(
            "totalLatencyP75Sec",
            "number",
            "75th percentile time per asset including the queue, in seconds.",
            minimum=0,
        ),
    ),
)

_PERFORMANCE = Obj(
    "performanceStats",
    "Aggregated cost and latency statistics.",
    (
        _VARIANTS,
        _f(
            "default",
            "string",
            "Variant key used for quick comparison between models.",
            column="default_variant_key",
            gen="default_variant",
        ),
    ),
    prefix="",
)

_UI_CONFIG = Obj(
    "uiConfig",
    "How the web app lays out the model's inputs.",
    (
        _f("inputProperties", "json", "Per-input display options (input name -> options)."),
        _f(
            "outputProperties",
            "json",
            "Display options of the outputs a provider exposes (output name -> options).",
        ),
        Obj(
            "lorasComponent",
            "The LoRA picker component.",
            (
                _f("label", "string", "Label of the component.", required=True, gen="title"),
                _f(
                    "modelInput",
                    "string",
                    "model_array input that receives the LoRAs.",
                    required=True,
                    gen="input_name",
                ),
                _f(
                    "scaleInput",
                    "string",
                    "number_array input that receives their scales.",
                    required=True,
                    gen="input_name",
                ),
                _f(
                    "modelIdInput",
                    "string",
                    "Input whose model id is attached to outputs.",
                    gen="input_name",
                ),
            ),
        ),
        _f("presets", "json", "Preset values offered for groups of inputs."),
        Obj(
            "resolutionComponent",
            "The resolution picker component.",
            (
                _f(
                    "heightInput",
                    "string",
                    "Input that receives the height.",
                    required=True,
                    gen="input_name",
                ),
                _f("label", "string", "Label of the component.", required=True, gen="title"),
                _f("presets", "json", "Resolution presets (label, width, height).", required=True),
                _f(
                    "widthInput",
                    "string",
                    "Input that receives the width.",
                    required=True,
                    gen="input_name",
                ),
            ),
        ),
        _f("selects", "json", "Extra select configurations (input name -> options)."),
        Obj(
            "triggerGenerate",
            "The generate button placed among the inputs.",
            (
                _f("label", "string", "Label of the button.", required=True, gen="title"),
                _f("after", "string", "Input after which the button is shown.", gen="input_name"),
                _f("position", "enum", "Fixed position of the button.", enum=TRIGGER_POSITIONS),
            ),
        ),
    ),
)

MODEL = ListOf(
    "models",
    "models",
    "One row per model of the catalog.",
    (
        _f(
            "id",
            "string",
            "Model id (the key of every table).",
            required=True,
            column="model_id",
            gen="model_id",
        ),
        _f(
            "capabilities",
            "list_enum",
            "What the model can generate (also a child table).",
            required=True,
            enum=CAPABILITIES,
        ),
        _f(
            "collectionIds",
            "list_string",
            "Collections holding the model (also a child table).",
            required=True,
            gen="collection_ids",
        ),
        _f("createdAt", "datetime", "When the model was created; never changes.", required=True),
        _f(
            "custom",
            "bool",
            "Custom model, run through the custom generation endpoint.",
            required=True,
        ),
        _f(
            "exampleAssetIds",
            "list_string",
            "Example assets chosen by the owner (also a child table).",
            required=True,
            gen="asset_ids",
        ),
        _f("privacy", "enum", "Who can see the model.", required=True, enum=MODEL_PRIVACY),
        _f("source", "enum", "Where the model comes from.", required=True, enum=MODEL_SOURCE),
        _f("status", "enum", "Lifecycle status of the model.", required=True, enum=MODEL_STATUS),
        _f(
            "tags",
            "list_string",
            "Tags of the model (also a child table).",
            required=True,
            gen="tags",
        ),
        _f(
            "trainingImagesNumber",
            "number",
            "Number of images the model was trained on.",
            required=True,
        ),
        _f("type", "enum", "Model family (e.g. flux.1-lora).", required=True, enum=MODEL_TYPES),
        _f("updatedAt", "datetime", "When the model was last changed.", required=True),
        _f(
            "accessRestrictions",
            "int_enum",
            "Lowest plan that may use it (0 free ... 100 enterprise).",
            enum=ACCESS_RESTRICTIONS,
        ),
        _f("authorId", "string", "User who made the model.", gen="user_id"),
        _CLASS,
        _f(
            "compliantModelIds",
            "list_string",
            "Base models the LoRA works with.",
            gen="base_models",
        ),
        _CONCEPTS,
        _f("deletedAt", "datetime", "When the model was deleted (set only on deleted models)."),
        _f("disableRefund", "bool", "Failed generations with this model are not refunded."),
        _f("epoch", "string", "Epoch used for generation; the last one when empty.", gen="epoch"),
        _EPOCHS,
        _INPUTS,
        _f(
            "jobId", "string", "Job that trained the model (shown to its owner only).", gen="job_id"
        ),
        _f("modelKeyword", "string", "Legacy keyword of the model.", gen="word"),
        _f("name", "string", "Display name of the model.", gen="model_name"),
        _f(
            "negativePromptEmbedding",
            "string",
            "Negative prompt embedding applied at inference.",
            gen="prompt",
        ),
        _f("ownerId", "string", "Team that owns the model.", gen="team_id"),
        _PARAMETERS,
        _f("parentModelId", "string", "Model this one was derived from.", gen="model_ref"),
        _PERFORMANCE,
        _f("promptEmbedding", "string", "Prompt embedding applied at inference.", gen="prompt"),
        _f("shortDescription", "string", "One-line description of the model.", gen="sentence"),
        _f("softDeletionOn", "datetime", "When a free-plan model will be soft deleted."),
        Obj(
            "thumbnail",
            "Cover image of the model.",
            (
                _f(
                    "assetId",
                    "string",
                    "Asset id of the cover image.",
                    required=True,
                    gen="asset_id",
                ),
                _f("url", "string", "Address of the cover image.", required=True, gen="url"),
            ),
        ),
        ListOf(
            "trainingImagePairs",
            "training_image_pairs",
            "Source/target image pairs for edit training.",
            (
                _f(
                    "instruction",
                    "string",
                    "Instruction turning the source into the target.",
                    gen="prompt",
                ),
                _f("sourceId", "string", "Training asset used as the source.", gen="asset_id"),
                _f("targetId", "string", "Training asset used as the target.", gen="asset_id"),
            ),
        ),
        ListOf(
            "trainingImages",
            "training_images",
            "First training images of the model.",
            (
                _f(
                    "id",
                    "string",
                    "Asset id of the training image.",
                    required=True,
                    column="image_id",
                    gen="asset_id",
                ),
                _f(
                    "automaticCaptioning",
                    "string",
                    "Caption generated for the image.",
                    required=True,
                    gen="sentence",
                ),
                _f("createdAt", "datetime", "When the image was uploaded.", required=True),
                _f(
                    "description",
                    "string",
                    "Description given to the image.",
                    required=True,
                    gen="sentence",
                ),
                _f("downloadUrl", "string", "Address of the image.", required=True, gen="url"),
                _f("name", "string", "Original file name.", required=True, gen="file_name"),
            ),
        ),
        Obj(
            "trainingProgress",
            "Live progress of a running training.",
            (
                _f(
                    "stage",
                    "enum",
                    "Stage the training request is in.",
                    required=True,
                    enum=TRAINING_STAGES,
                ),
                _f("updatedAt", "epoch_ms", "When the progress was last reported.", required=True),
                _f(
                    "captchaImageUrl",
                    "string",
                    "Captcha image to read aloud while a voice is cloned.",
                    gen="url",
                ),
                _f("position", "number", "Jobs ahead of this one in the queue.", minimum=0),
                _f("progress", "number", "Share done, from 0 to 1.", minimum=0, maximum=1),
                _f("remainingTimeMs", "number", "Estimated time left, in milliseconds.", minimum=0),
                _f(
                    "retryableError",
                    "string",
                    "Last recoverable failure of a voice cloning step.",
                    gen="sentence",
                ),
                _f("retryCount", "number", "Voice cloning steps failed in a row.", minimum=0),
                _f("startedAt", "epoch_ms", "When the training started."),
            ),
        ),
        Obj(
            "trainingStats",
            "Figures of a finished training.",
            (
                _f("endedAt", "datetime", "When the training ended."),
                _f("queueDuration", "number", "Seconds spent waiting in the queue.", minimum=0),
                _f("startedAt", "datetime", "When the training started."),
                _f("trainDuration", "number", "Seconds spent training.", minimum=0),
            ),
        ),
        _UI_CONFIG,
        _f("userId", "string", "Deprecated: user who made the model.", gen="user_id"),
    ),
)


# ---------------------------------------------------------------------------------------------
# Derivations: columns, dtypes, data dictionary
# ---------------------------------------------------------------------------------------------

KEY = "model_id"


def dtype_of(kind: Kind) -> pl.DataType:
    """The polars dtype a value of this kind is stored as."""
    return {
        "string": pl.String(),
        "number": pl.Float64(),
        "integer": pl.Int64(),
        "bool": pl.Boolean(),
        "datetime": pl.Datetime("us", "UTC"),
        "epoch_ms": pl.Datetime("ms", "UTC"),
        "enum": pl.String(),
        "int_enum": pl.Int64(),
        "list_string": pl.List(pl.String()),
        "list_enum": pl.List(pl.String()),
        "json": pl.String(),
    }[kind]


@dataclass(frozen=True)
class Column:
    """One column of one table, with where its value comes from in the JSON record."""

    table: str
    name: str
    dtype: pl.DataType
    description: str
    source: str  # dotted JSON path, "[]" marking list items; "(derived)" for computed columns
    field: Field | None = None
    path: tuple[str, ...] = ()  # JSON keys from the list item that owns this table


@dataclass
class TableSpec:
    """Columns of one table in order; the derivation of the schema tree for that table."""

    name: str
    description: str
    columns: list[Column] = field(default_factory=list)

    @property
    def schema(self) -> pl.Schema:
        return pl.Schema({c.name: c.dtype for c in self.columns})

    def column(self, name: str) -> Column:
        for c in self.columns:
            if c.name == name:
                return c
        raise KeyError(name)


def _derived(table: str, name: str, dtype: pl.DataType, doc: str) -> Column:
    return Column(table, name, dtype, doc, "(derived)")


# Child tables made from plain string lists of the model record.
STRING_LIST_TABLES: dict[str, tuple[str, str, str]] = {
    # table: (API key, value column, description)
    "capabilities": ("capabilities", "capability", "One row per capability of a model."),
    "tags": ("tags", "tag", "One row per tag of a model."),
    "collections": ("collectionIds", "collection_id", "One row per collection a model belongs to."),
    "example_assets": ("exampleAssetIds", "asset_id", "One row per example asset of a model."),
}

EXTRA_DOC = "Fields the schema does not know, as JSON text (null when there are none)."


def _walk_fields(
    nodes: tuple[Node, ...],
    table: str,
    prefix: str,
    src: str,
    path: tuple[str, ...],
    out: list[Column],
    children: list[tuple[ListOf, str]],
) -> None:
    for node in nodes:
        if isinstance(node, Field):
            name = f"{prefix}_{node.col}" if prefix else node.col
            out.append(
                Column(
                    table,
                    name,
                    dtype_of(node.kind),
                    node.doc,
                    f"{src}{node.key}",
                    node,
                    path + (node.key,),
                )
            )
        elif isinstance(node, Obj):
            pre = f"{prefix}_{node.col}" if prefix and node.col else (node.col or prefix)
            _walk_fields(
                node.fields, table, pre, f"{src}{node.key}.", path + (node.key,), out, children
            )
        else:
            children.append((node, f"{src}{node.key}[]."))


def _build_tables() -> dict[str, TableSpec]:
    tables: dict[str, TableSpec] = {}
    models = TableSpec("models", MODEL.doc)
    children: list[tuple[ListOf, str]] = []
    _walk_fields(MODEL.fields, "models", "", "", (), models.columns, children)
    models.columns.append(Column("models", "extra", pl.String(), EXTRA_DOC, "(unknown fields)"))
    tables["models"] = models

    for tname, (key, col, doc) in STRING_LIST_TABLES.items():
        tables[tname] = TableSpec(
            tname,
            doc,
            [
                Column(tname, KEY, pl.String(), "Model the row belongs to.", "id"),
                _derived(tname, "position", pl.Int32(), "Position in the model's list, from 0."),
                Column(tname, col, pl.String(), f"Value from the model's {key} list.", f"{key}[]"),
            ],
        )

    for node, src in children:
        spec = TableSpec(
            node.table,
            node.doc,
            [
                Column(node.table, KEY, pl.String(), "Model the row belongs to.", "id"),
                _derived(
                    node.table, "position", pl.Int32(), "Position in the model's list, from 0."
                ),
            ],
        )
        if node.recursive:
            spec.columns.append(
                _derived(
                    node.table,
                    node.recursive_parent_column,
                    pl.String(),
                    "Name of the inputs_array input this member belongs to (null at top level).",
                )
            )
        _walk_fields(node.fields, node.table, "", src, (), spec.columns, [])
        if node.nested is not None:
            nested = node.nested
            spec.columns.append(
                _derived(
                    node.table,
                    "asset_position",
                    pl.Int32(),
                    f"Position in the {nested.key} list, from 0 (null when empty).",
                )
            )
            _walk_fields(
                nested.fields,
                node.table,
                "",
                f"{src}{nested.key}[].",
                (nested.key,),
                spec.columns,
                [],
            )
        spec.columns.append(Column(node.table, "extra", pl.String(), EXTRA_DOC, "(unknown fields)"))
        tables[node.table] = spec

    variants = tables["variants"]
    variants.columns.insert(
        len(variants.columns) - 1,
        _derived(
            "variants",
            "is_default",
            pl.Boolean(),
            "This variant is the model's default_variant_key.",
        ),
    )
    inputs = tables["inputs"]
    idx = len(inputs.columns) - 1
    for name, dtype, doc in (
        ("default_number", pl.Float64(), "The default when it is a number."),
        ("default_string", pl.String(), "The default when it is a string."),
        ("default_bool", pl.Boolean(), "The default when it is a boolean."),
    ):
        inputs.columns.insert(idx, _derived("inputs", name, dtype, doc))
        idx += 1
    tables["rejects"] = TableSpec(
        "rejects",
        "Records that could not be materialized, kept whole.",
        [
            Column(
                "rejects", "page", pl.Int64(), "Page number the record came from, from 0.", "(page)"
            ),
            Column(
                "rejects",
                "index",
                pl.Int64(),
                "Position of the record in its page, from 0.",
                "(page)",
            ),
            Column("rejects", KEY, pl.String(), "Model id when one could be read.", "id"),
            Column("rejects", "reason", pl.String(), "Why the record was refused.", "(derived)"),
            Column("rejects", "raw", pl.String(), "The record as JSON text.", "(record)"),
        ],
    )
    return tables


TABLES: dict[str, TableSpec] = _build_tables()
TABLE_ORDER: tuple[str, ...] = (
    "models",
    "capabilities",
    "tags",
    "collections",
    "variants",
    "inputs",
    "concepts",
    "epochs",
    "training_images",
    "training_image_pairs",
    "example_assets",
    "rejects",
)


def iter_fields(nodes: tuple[Node, ...] = MODEL.fields):
    """Every leaf Field in the tree, depth first (used by the generator and coverage tests)."""
    for node in nodes:
        if isinstance(node, Field):
            yield node
        else:
            yield from iter_fields(node.fields)
            if isinstance(node, ListOf) and node.nested is not None:
                yield from iter_fields(node.nested.fields)


def known_keys(nodes: tuple[Node, ...]) -> frozenset[str]:
    """API keys known at one level of the tree (to tell unknown fields apart)."""
    keys = {n.key for n in nodes}
    return frozenset(keys)


def data_dictionary(table: str | None = None) -> pl.DataFrame:
    """The data dictionary: table, column, dtype, description and JSON source path.

    Everything the toolkit knows about its tables comes from this module's one description
    of the model record; this shows it as a frame, to browse or filter without fetching
    anything.  (``Catalog.describe`` does the same for the columns a catalog actually holds.)

    Parameters
    ----------
    table : str, optional
        One table's columns; default every table's, in ``TABLE_ORDER``.

    Returns
    -------
    polars.DataFrame
        One row per column: ``table``, ``column``, ``dtype``, ``description`` and ``source``
        (the path of the JSON field it is read from, or ``(derived)``).

    Raises
    ------
    KeyError
        An unknown table name.

    Examples
    --------
    >>> from scenario_frames import data_dictionary
    >>> data_dictionary("tags").select("column", "dtype", "source").rows()
    [('model_id', 'String', 'id'), ('position', 'Int32', '(derived)'), ('tag', 'String', 'tags[]')]
    >>> data_dictionary()["table"].n_unique()
    12
    """
    names = [table] if table else list(TABLE_ORDER)
    rows = [
        {
            "table": c.table,
            "column": c.name,
            "dtype": str(c.dtype),
            "description": c.description,
            "source": c.source,
        }
        for n in names
        for c in TABLES[n].columns
    ]
    return pl.DataFrame(
        rows,
        schema={
            "table": pl.String,
            "column": pl.String,
            "dtype": pl.String,
            "description": pl.String,
            "source": pl.String,
        },
    )
