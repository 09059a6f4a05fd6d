"""The bundle manifest (version 2007-10-10) as euca2ools 3.x writes it: the XML declaration, a newline, then
the whole document on one line in a fixed element order, no trailing newline; and a reader that checks what
it needs and says which element is wrong."""
from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from dataclasses import dataclass, field

from engine.errors import EngineError
from engine.vbr import MAX_SIZE

VERSION = "2007-10-10"
ARCHES = ("i386", "x86_64", "armhf", "ppc", "ppc64", "ppc64le")
IMAGE_TYPES = ("machine", "kernel", "ramdisk")
SAFE_PART = re.compile(r"[A-Za-z0-9._+@=,-]{1,200}")
MAX_IMAGE_BYTES = MAX_SIZE      # a TiB: a larger size is refused before anything is written for it


class ManifestError(EngineError):
    pass


def esc(text: str) -> str:
    """lxml's text escaping with encoding ASCII: &, <, > as entities, anything else non-ASCII as &#N;."""
    out = text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
    return "".join(c if ord(c) < 128 else f"&#{ord(c)};" for c in out)


def _el(tag: str, text: str | None = None, attrs: str = "") -> str:
    if text is None or text == "":
        return f"<{tag}{attrs}/>"
    return f"<{tag}{attrs}>{esc(text)}</{tag}>"


@dataclass
class Part:
    filename: str
    digest: str


@dataclass
class Manifest:
    name: str
    user: str
    arch: str
    image_type: str = "machine"
    digest: str = ""
    size: int = 0
    bundled_size: int = 0
    ec2_encrypted_key: str = ""
    user_encrypted_key: str = ""
    ec2_encrypted_iv: str = ""
    user_encrypted_iv: str = ""
    parts: list[Part] = field(default_factory=list)
    signature: str = "UNSIGNED"
    kernel_id: str | None = None
    ramdisk_id: str | None = None
    block_device_mapping: dict[str, str] = field(default_factory=dict)
    product_codes: list[str] = field(default_factory=list)
    bundler: tuple[str, str, str] = ("nc-harness", "0.1", "0")

    # -- writing ---------------------------------------------------------------------------------
    def machine_configuration_xml(self) -> str:
        inner = _el("architecture", self.arch)
        if self.image_type == "machine" and self.block_device_mapping:
            inner += "<block_device_mapping>" + "".join(
                f"<mapping>{_el('virtual', v)}{_el('device', d)}</mapping>"
                for v, d in sorted(self.block_device_mapping.items())) + "</block_device_mapping>"
        if self.image_type == "machine" and self.product_codes:
            inner += "<product_codes>" + "".join(_el("product_code", c) for c in self.product_codes) + \
                "</product_codes>"
        if self.kernel_id:
            inner += _el("kernel_id", self.kernel_id)
        if self.ramdisk_id:
            inner += _el("ramdisk_id", self.ramdisk_id)
        return f"<machine_configuration>{inner}</machine_configuration>"

    def image_xml(self) -> str:
        aes, sha1 = ' algorithm="AES-128-CBC"', ' algorithm="SHA1"'
        parts = "".join(f'<part index="{i}">{_el("filename", p.filename)}{_el("digest", p.digest, sha1)}</part>'
                        for i, p in enumerate(self.parts))
        return ("<image>" + _el("name", self.name) + _el("user", self.user) + _el("type", self.image_type)
                + _el("digest", self.digest, sha1) + _el("size", str(self.size))
                + _el("bundled_size", str(self.bundled_size))
                + _el("ec2_encrypted_key", self.ec2_encrypted_key, aes)
                + _el("user_encrypted_key", self.user_encrypted_key, aes)
                + _el("ec2_encrypted_iv", self.ec2_encrypted_iv) + _el("user_encrypted_iv", self.user_encrypted_iv)
                + f'<parts count="{len(self.parts)}">{parts}</parts></image>')

    def signed_bytes(self) -> bytes:
        """What the signature covers: the two serialized elements, nothing between them."""
        return (self.machine_configuration_xml() + self.image_xml()).encode("ascii")

    def to_xml(self) -> str:
        name, version, release = self.bundler
        return ("<?xml version='1.0' encoding='ASCII'?>\n<manifest>" + _el("version", VERSION)
                + f"<bundler>{_el('name', name)}{_el('version', version)}{_el('release', release)}</bundler>"
                + self.machine_configuration_xml() + self.image_xml() + _el("signature", self.signature)
                + "</manifest>")


def signed_region(text: str) -> bytes:
    """The verifiers' view (Eucalyptus, AWS): cut out of the raw text with string search."""
    try:
        mc = text[text.index("<machine_configuration>"):text.index("</machine_configuration>") + 24]
    except ValueError:
        mc = ""
    try:
        image = text[text.index("<image>"):text.index("</image>") + 8]
    except ValueError:
        raise ManifestError("no <image> element") from None
    return (mc + image).encode("utf-8")


def parse(text: str, where: str = "manifest") -> Manifest:
    """A manifest from its text, every field the unbundler relies on checked; part names must be plain
    file names (they are joined to a directory, never trusted as paths)."""
    if "<!DOCTYPE" in text or "<!ENTITY" in text:
        raise ManifestError(f"{where}: DTDs and entities are not accepted in a manifest")
    try:
        root = ET.fromstring(text)
    except ET.ParseError as exc:
        raise ManifestError(f"{where}: not well-formed XML ({exc})") from None
    if root.tag != "manifest":
        raise ManifestError(f"{where}: root element is <{root.tag}>, not <manifest>")

    def text_of(path: str, required: bool = True) -> str:
        el = root.find(path)
        if el is None:
            if required:
                raise ManifestError(f"{where}: missing <{path}>")
            return ""
        return (el.text or "").strip()

    def number(path: str) -> int:
        value = text_of(path)
        if not value.isdigit() or len(value) > 20:
            raise ManifestError(f"{where}: <{path}> must be a non-negative integer, not {value[:40]!r}")
        if int(value) > MAX_IMAGE_BYTES:
            raise ManifestError(f"{where}: <{path}> is {value} bytes, more than the {MAX_IMAGE_BYTES} allowed")
        return int(value)

    m = Manifest(name=text_of("image/name"), user=text_of("image/user"),
                 arch=text_of("machine_configuration/architecture", False) or "i386")
    m.image_type = text_of("image/type", False) or "machine"
    m.digest = text_of("image/digest").lower()
    if not re.fullmatch(r"[0-9a-f]{40}", m.digest):
        raise ManifestError(f"{where}: <image/digest> is not a SHA-1 hex digest")
    m.size, m.bundled_size = number("image/size"), number("image/bundled_size")
    for attr in ("ec2_encrypted_key", "user_encrypted_key", "ec2_encrypted_iv", "user_encrypted_iv"):
        setattr(m, attr, text_of(f"image/{attr}", False))
    parts_el = root.find("image/parts")
    if parts_el is None:
        raise ManifestError(f"{where}: missing <image/parts>")
    indexed = {}
    for el in parts_el.findall("part"):
        index = el.get("index", "")
        name, digest = (el.findtext("filename") or "").strip(), (el.findtext("digest") or "").strip().lower()
        if not index.isdigit() or int(index) in indexed:
            raise ManifestError(f"{where}: part index {index!r} is missing, not a number or repeated")
        if not SAFE_PART.fullmatch(name) or name in (".", ".."):
            raise ManifestError(f"{where}: part {index}: file name {name!r} is not a plain file name")
        if not re.fullmatch(r"[0-9a-f]{40}", digest):
            raise ManifestError(f"{where}: part {index}: digest is not a SHA-1 hex digest")
        indexed[int(index)] = Part(name, digest)
    if sorted(indexed) != list(range(len(indexed))):
        raise ManifestError(f"{where}: part indexes are not 0..{len(indexed) - 1}")
    count = parts_el.get("count")
    if count is not None and count != str(len(indexed)):
        raise ManifestError(f"{where}: <parts count=\"{count}\"> but {len(indexed)} parts are listed")
    m.parts = [indexed[i] for i in range(len(indexed))]
    m.signature = text_of("signature", False) or "UNSIGNED"
    m.kernel_id = text_of("machine_configuration/kernel_id", False) or None
    m.ramdisk_id = text_of("machine_configuration/ramdisk_id", False) or None
    for mapping in root.findall("machine_configuration/block_device_mapping/mapping"):
        m.block_device_mapping[(mapping.findtext("virtual") or "").strip()] = (mapping.findtext("device") or "").strip()
    m.product_codes = [(c.text or "").strip() for c in root.findall("machine_configuration/product_codes/product_code")]
    b = root.find("bundler")
    if b is not None:
        m.bundler = (b.findtext("name") or "", b.findtext("version") or "", b.findtext("release") or "")
    return m
