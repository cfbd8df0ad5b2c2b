"""The raw-XML listing path: fields, escaping, URL encoding, versions, pagination markers."""

import pytest

from lib.leaves.errors import FatalError
from lib.stores.s3 import ListRequest, next_params, parse_page

NS = 'xmlns="http://s3.amazonaws.com/doc/2006-03-01/"'


def page(body: str, *, ns: str = NS, truncated: bool = False, extra: str = "") -> bytes:
    flag = "true" if truncated else "false"
    return (
        f'<?xml version="1.0" encoding="UTF-8"?>\n<ListBucketResult {ns}>'
        f"<Name>bkt</Name><IsTruncated>{flag}</IsTruncated>{extra}{body}</ListBucketResult>"
    ).encode()


def contents(key: str, size: int = 3, checksum: str = "") -> str:
    algorithm = f"<ChecksumAlgorithm>{checksum}</ChecksumAlgorithm>" if checksum else ""
    return (
        f"<Contents><Key>{key}</Key><LastModified>2026-01-02T03:04:05.000Z</LastModified>"
        f"<ETag>&quot;abc-2&quot;</ETag>{algorithm}<Size>{size}</Size>"
        "<StorageClass>STANDARD</StorageClass></Contents>"
    )


@pytest.mark.parametrize("ns", [NS, ""])
def test_object_fields(ns: str) -> None:
    [record] = parse_page(page(contents("a/b.txt", 42, "CRC64NVME"), ns=ns), ListRequest("bkt", ""))
    assert record.bucket == "bkt" and record.key == "a/b.txt" and record.size == 42
    assert record.etag == "abc-2" and record.last_modified == "2026-01-02T03:04:05.000Z"
    assert record.storage_class == "STANDARD" and record.checksum_algorithm == "CRC64NVME"
    assert record.version_id is None and record.is_latest and not record.delete_marker


def test_xml_escaped_keys_are_unescaped() -> None:
    body = page(contents("a &amp; b &lt;c&gt; &#13;&#x9;+%20"))
    assert parse_page(body, ListRequest("bkt", ""))[0].key == "a & b <c> \r\t+%20"


def test_url_encoded_keys_are_decoded_only_when_the_server_says_so() -> None:
    encoded = contents("a+b%2Bc%20d%0A%F0%9F%98%80")
    decoded = parse_page(
        page(encoded, extra="<EncodingType>url</EncodingType>"), ListRequest("b", "")
    )
    assert decoded[0].key == "a b+c d\n😀"
    raw = parse_page(page(encoded), ListRequest("b", ""))
    assert raw[0].key == "a+b%2Bc%20d%0A%F0%9F%98%80"


def test_versions_and_delete_markers_are_merged_newest_first() -> None:
    body = (
        "<ListVersionsResult " + NS + "><IsTruncated>false</IsTruncated>"
        "<Version><Key>k</Key><VersionId>v2</VersionId><IsLatest>false</IsLatest>"
        '<LastModified>2026-01-02T00:00:00.000Z</LastModified><ETag>"e2"</ETag>'
        "<Size>2</Size><StorageClass>STANDARD</StorageClass></Version>"
        "<DeleteMarker><Key>k</Key><VersionId>v3</VersionId><IsLatest>true</IsLatest>"
        "<LastModified>2026-01-03T00:00:00.000Z</LastModified></DeleteMarker>"
        "<Version><Key>k</Key><VersionId>null</VersionId><IsLatest>false</IsLatest>"
        '<LastModified>2026-01-01T00:00:00.000Z</LastModified><ETag>"e1"</ETag>'
        "<Size>1</Size><StorageClass>STANDARD</StorageClass></Version>"
        "</ListVersionsResult>"
    ).encode()
    records = parse_page(body, ListRequest("bkt", "", versions=True))
    assert [(r.version_id, r.delete_marker, r.is_latest, r.size) for r in records] == [
        ("v3", True, True, None),
        ("v2", False, False, 2),
        ("null", False, False, 1),
    ]
    assert records[0].etag is None and records[0].storage_class is None


def test_unreadable_xml_is_fatal() -> None:
    with pytest.raises(FatalError, match="unreadable XML"):
        parse_page(b"<ListBucketResult><Contents>", ListRequest("bkt", ""))


def test_next_params_follow_the_continuation_token() -> None:
    request = ListRequest("bkt", "p/", page_size=10, start_after="p/a")
    params = request.params()
    assert params == {"Bucket": "bkt", "MaxKeys": 10, "Prefix": "p/", "StartAfter": "p/a"}
    body = page(
        contents("p/b"),
        truncated=True,
        extra="<NextContinuationToken>t&amp;1</NextContinuationToken>",
    )
    assert next_params(request, params, body) == {
        "Bucket": "bkt",
        "MaxKeys": 10,
        "Prefix": "p/",
        "ContinuationToken": "t&1",
    }
    assert next_params(request, params, page(contents("p/b"))) is None


def test_next_params_fall_back_to_the_last_key_without_a_token() -> None:
    request = ListRequest("bkt", "")
    body = page(
        contents("a") + contents("b%2Bc"), truncated=True, extra="<EncodingType>url</EncodingType>"
    )
    assert next_params(request, request.params(), body)["StartAfter"] == "b+c"  # type: ignore[index]


def test_version_markers() -> None:
    request = ListRequest("bkt", "", versions=True, start_after="k", version_marker="v1")
    params = request.params()
    assert params["KeyMarker"] == "k" and params["VersionIdMarker"] == "v1"
    body = (
        b"<ListVersionsResult><IsTruncated>true</IsTruncated><NextKeyMarker>k2</NextKeyMarker>"
        b"<NextVersionIdMarker>v9</NextVersionIdMarker></ListVersionsResult>"
    )
    following = next_params(request, params, body)
    assert following is not None
    assert (following["KeyMarker"], following["VersionIdMarker"]) == ("k2", "v9")


@pytest.mark.parametrize(
    ("given", "expected"),
    [
        ("2026-11-22T04:00:29.86Z", "2026-11-22T04:00:29.860Z"),
        ("2026-11-22T04:00:29Z", "2026-11-22T04:00:29.000Z"),
        ("2026-11-22T04:00:29.123456Z", "2026-11-22T04:00:29.123Z"),
        ("2026-11-22T04:00:29.5+00:00", "2026-11-22T04:00:29.500Z"),
    ],
)
def test_timestamps_are_normalized_to_milliseconds(given: str, expected: str) -> None:
    body = page(contents("k").replace("2026-01-02T03:04:05.000Z", given))
    assert parse_page(body, ListRequest("bkt", ""))[0].last_modified == expected


# --- the fast path reads exactly what the tree parser reads -------------------------------

HARD_KEYS = [
    "plain/key.txt",
    "with space and + plus",
    "100% done%2F",
    "a&b<c>d\"e'f",
    "line\nbreak\ttab",
    "naïve café/日本語/📦",
    "/leading//double/../dots",
    "x" * 1024,
]


def encoded_page(keys: list[str], *, url: bool, **fields: str) -> bytes:
    """A page as a server writes it: keys URL-encoded (plus for space) or XML-escaped."""
    from urllib.parse import quote_plus
    from xml.sax.saxutils import escape

    entries = "".join(
        contents(quote_plus(key, safe="/") if url else escape(key), **fields)  # type: ignore[arg-type]
        for key in keys
    )
    return page(entries, extra="<EncodingType>url</EncodingType>" if url else "")


@pytest.mark.parametrize("url", [True, False])
@pytest.mark.parametrize("checksum", ["", "CRC32"])
def test_fast_path_matches_the_tree_parser(url: bool, checksum: str) -> None:
    from lib.stores.s3 import _parse_objects_fast, _parse_tree

    body = encoded_page(HARD_KEYS, url=url, checksum=checksum)
    request = ListRequest("bkt", "")
    fast = _parse_objects_fast(body, "bkt")
    assert fast is not None
    assert fast == _parse_tree(body, request)
    assert [record.key for record in fast] == HARD_KEYS


@pytest.mark.parametrize(
    ("element", "empty"),
    [
        ("<ETag>&quot;abc-2&quot;</ETag>", "<ETag></ETag>"),
        ("<StorageClass>STANDARD</StorageClass>", "<StorageClass></StorageClass>"),
        ("2026-01-02T03:04:05.000Z", ""),
        ("2026-01-02T03:04:05.000Z", "2026-01-02T03:04:05&#46;5Z"),
    ],
)
def test_fast_path_reads_empty_and_escaped_fields_like_the_tree_parser(
    element: str, empty: str
) -> None:
    from lib.stores.s3 import _parse_objects_fast, _parse_tree

    body = page(contents("a").replace(element, empty) + contents("b"))
    fast = _parse_objects_fast(body, "bkt")
    assert fast is not None and fast == _parse_tree(body, ListRequest("bkt", ""))


def test_fast_path_unescapes_character_references_like_xml() -> None:
    from lib.stores.s3 import _parse_objects_fast

    body = page(contents("&#x80;&#128;&#x1F4E6;&apos;&quot;"))
    [record] = _parse_objects_fast(body, "bkt") or []
    assert record.key == "\x80\x80📦'\""  # not HTML's windows-1252 reading of &#x80;


@pytest.mark.parametrize(
    "body",
    [
        page(contents("a")).replace(b"</ListBucketResult>", b""),  # cut off
        page(contents("a") + contents("b"))[:-40] + b"</ListBucketResult>",  # torn entry
        page(contents("<![CDATA[a]]>")),
        page(contents("a\r\nb")),
        page(contents("a &#0; b")),
        page(contents("a & b")),
        page("<s3:Contents><s3:Key>a</s3:Key></s3:Contents>"),
        page(contents("a").replace("<Size>3</Size>", "")),
        page(contents("a").replace("<Key>a</Key>", "<Key/>")),
        b'<?xml version="1.0" encoding="ISO-8859-1"?>' + page(contents("a"))[38:],
    ],
)
def test_unusual_pages_are_left_to_the_tree_parser(body: bytes) -> None:
    from lib.stores.s3 import _parse_objects_fast

    assert _parse_objects_fast(body, "bkt") is None


def test_only_whole_listings_skip_botocores_200_error_check() -> None:
    from lib.stores.s3 import RAW_BODY, S3Config, make_client

    client = make_client(S3Config(endpoint_url="http://127.0.0.1:9", region="us-east-1"))
    model = client.meta.service_model.operation_model("ListObjectsV2")

    def after_parse_hooks(body: bytes) -> tuple[int, dict[str, object]]:
        response = {"status_code": 200, "body": body, "headers": {}}
        custom: dict[str, object] = {}
        client.meta.events.emit(
            "before-parse.s3.ListObjectsV2",
            operation_model=model,
            response_dict=response,
            customized_response_dict=custom,
        )
        return int(response["status_code"]), custom  # type: ignore[call-overload]

    whole = page(contents("a"))
    assert after_parse_hooks(whole) == (200, {RAW_BODY: whole})
    error = b"<?xml version='1.0'?><Error><Code>InternalError</Code></Error>"
    assert after_parse_hooks(error)[0] == 500  # retried by botocore, as without us
    assert after_parse_hooks(whole[:-30])[0] == 500  # a cut-off body too
