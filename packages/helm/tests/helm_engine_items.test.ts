/**
 * One minimal chart per engine item of issue 10, each expectation confirmed
 * against a Go text/template + Sprig renderer of Helm 3 (shared helm-oracle).
 */
import { deepStrictEqual as assertEquals, ok as assert, throws as assertThrows } from "node:assert/strict";
import { createPrivateKey, X509Certificate } from "node:crypto";
import bcryptjs from "bcryptjs";
import { loadChart } from "../src/chart.ts";
import { renderChart } from "../src/render.ts";
import { functionNames } from "../src/template.ts";
import { parseValues } from "../src/values.ts";
import { packChart } from "../../../tests/helpers/helm.ts";

const CHART = "apiVersion: v2\nname: c\nversion: 1.0.0\nappVersion: '1.0'\n";

/** Render one template of a one-template chart. */
async function renderOne(template: string, values = "", options = {}): Promise<string> {
  const bytes = await packChart("c", { "Chart.yaml": CHART, "values.yaml": values, "templates/t.yaml": template });
  const chart = await loadChart(bytes);
  const [result] = renderChart(chart, parseValues(values, "values.yaml"), options).templates;
  if (result.error) throw result.error;
  return result.output!;
}

/** Sprig v3.2.3's TxtFuncMap and Helm 3's funcMap, minus env/expandenv which Helm removes. */
const SPRIG_AND_HELM = `hello ago date date_in_zone date_modify dateInZone dateModify duration durationRound htmlDate
htmlDateInZone must_date_modify mustDateModify mustToDate now toDate unixEpoch abbrev abbrevboth trunc trim upper lower
title untitle substr repeat trimall trimAll trimSuffix trimPrefix nospace initials randAlphaNum randAlpha randAscii
randNumeric swapcase shuffle snakecase camelcase kebabcase wrap wrapWith contains hasPrefix hasSuffix quote squote cat
indent nindent replace plural sha1sum sha256sum adler32sum toString atoi int64 int float64 seq toDecimal split
splitList splitn toStrings until untilStep add1 add sub div mod mul randInt add1f addf subf divf mulf biggest max min
maxf minf ceil floor round join sortAlpha default empty coalesce all any compact mustCompact fromJson toJson
toPrettyJson toRawJson mustFromJson mustToJson mustToPrettyJson mustToRawJson ternary deepCopy mustDeepCopy typeOf
typeIs typeIsLike kindOf kindIs deepEqual getHostByName base dir clean ext isAbs osBase osClean osDir osExt osIsAbs
b64enc b64dec b32enc b32dec tuple list dict get set unset hasKey pluck keys pick omit merge mergeOverwrite mustMerge
mustMergeOverwrite values append push mustAppend mustPush prepend mustPrepend first mustFirst rest mustRest last
mustLast initial mustInitial reverse mustReverse uniq mustUniq without mustWithout has mustHas slice mustSlice concat
dig chunk mustChunk bcrypt htpasswd genPrivateKey derivePassword buildCustomCert genCA genCAWithKey genSelfSignedCert
genSelfSignedCertWithKey genSignedCert genSignedCertWithKey encryptAES decryptAES randBytes uuidv4 semver
semverCompare fail regexMatch mustRegexMatch regexFindAll mustRegexFindAll regexFind mustRegexFind regexReplaceAll
mustRegexReplaceAll regexReplaceAllLiteral mustRegexReplaceAllLiteral regexSplit mustRegexSplit regexQuoteMeta
urlParse urlJoin toToml toYaml fromYaml fromYamlArray fromJsonArray include tpl required lookup
and call html index js len not or print printf println urlquery eq ge gt le lt ne`.split(/\s+/);

Deno.test("engine: every Sprig and Helm function is defined, and env/expandenv are not", () => {
  const names = new Set(functionNames());
  assertEquals(SPRIG_AND_HELM.filter((name) => !names.has(name)), []);
  assert(!names.has("env") && !names.has("expandenv"));
});

Deno.test("engine: crypto generators return real keys and certificates", async () => {
  const out = await renderOne([
    `{{- $ca := genCA "my-ca" 365 }}`,
    `{{- $cert := genSignedCert "svc" (list "10.0.0.1") (list "svc.local") 30 $ca }}`,
    `{{- $self := genSelfSignedCert "self" nil (list "a.example") 10 }}`,
    `ca: {{ $ca.Cert | b64enc }}`,
    `caKey: {{ $ca.Key | b64enc }}`,
    `cert: {{ $cert.Cert | b64enc }}`,
    `self: {{ $self.Cert | b64enc }}`,
    `rsa: {{ genPrivateKey "rsa" | b64enc }}`,
    `ec: {{ genPrivateKey "ecdsa" | b64enc }}`,
    `ed: {{ genPrivateKey "ed25519" | b64enc }}`,
    `dsa: {{ genPrivateKey "dsa" | b64enc }}`,
    `custom: {{ (buildCustomCert ($ca.Cert | b64enc) ($ca.Key | b64enc)).Cert | b64enc }}`,
    "",
  ].join("\n"));
  const field = (name: string) => atob(new RegExp(`^${name}: (.*)$`, "m").exec(out)![1]);
  const ca = new X509Certificate(field("ca"));
  const cert = new X509Certificate(field("cert"));
  assertEquals(ca.subject, "CN=my-ca");
  assert(ca.ca);
  assert(cert.checkIssued(ca) && cert.verify(ca.publicKey), "signed by the CA");
  assertEquals(cert.subjectAltName, "DNS:svc.local, IP Address:10.0.0.1");
  assertEquals(new X509Certificate(field("self")).subjectAltName, "DNS:a.example");
  assert(field("caKey").startsWith("-----BEGIN RSA PRIVATE KEY-----"));
  assertEquals(createPrivateKey(field("rsa")).asymmetricKeyType, "rsa");
  assert(field("ec").startsWith("-----BEGIN EC PRIVATE KEY-----"));
  assertEquals(createPrivateKey(field("ed")).asymmetricKeyType, "ed25519");
  assert(field("dsa").startsWith("-----BEGIN DSA PRIVATE KEY-----"));
  assertEquals(createPrivateKey(field("dsa")).asymmetricKeyType, "dsa");
  assertEquals(field("custom"), field("ca"));
});

Deno.test("engine: bcrypt, htpasswd, derivePassword and AES as Sprig computes them", async () => {
  const out = await renderOne([
    `hash: {{ bcrypt "secret" }}`,
    `htpasswd: {{ htpasswd "admin" "secret" }}`,
    `bad: {{ htpasswd "a:b" "x" }}`,
    `derived: {{ derivePassword 1 "long" "password" "user" "example.com" }}`,
    `aes: {{ encryptAES "key" "plain text" | decryptAES "key" }}`,
    "",
  ].join("\n"));
  const hash = /^hash: (.*)$/m.exec(out)![1];
  assert(hash.startsWith("$2a$10$") && bcryptjs.compareSync("secret", hash), hash);
  const [user, digest] = /^htpasswd: (.*)$/m.exec(out)![1].split(":");
  assertEquals(user, "admin");
  assert(bcryptjs.compareSync("secret", digest));
  assert(out.includes("bad: invalid username: a:b"));
  assert(out.includes("derived: ZedaFaxcZaso9*"), out);
  assert(out.includes("aes: plain text"));
});

Deno.test("engine: Go number literals — hex floats, 0o/0b, underscores, legacy octal", async () => {
  assertEquals(
    await renderOne(
      `{{ 0x1p10 }} {{ 0x1.8p1 }} {{ 0o17 }} {{ 0b101 }} {{ 1_000 }} {{ 017 }} {{ 0x_1F }} {{ mulf 2 0x1p60 }}`,
    ),
    "1024 3 15 5 1000 15 31 2.305843009213694e+18",
  );
});

Deno.test("engine: toYaml writes multi-line strings as yaml.v2 does, valid under nindent", async () => {
  const out = await renderOne(
    `data:\n  key: {{ .Values.text | toYaml }}\n  list:\n    {{- toYaml .Values.map | nindent 4 }}\n`,
    `text: "jq:\\n  - x\\n"\nmap:\n  b: "one\\ntwo"\n  a10: 1\n  a9: "yes"\n  c: "a: b"\n  d: "tab\\there"\n  e: "0o17"\n  f: "2006-01-02T15:04:05Z07:00"\n  g: "2001-12-14"\n`,
  );
  assertEquals(
    out,
    `data:\n  key: |\n  jq:\n    - x\n  list:\n    a9: "yes"\n    a10: 1\n    b: |-\n      one\n      two\n    c: 'a: b'\n` +
      `    d: "tab\\there"\n    e: "0o17"\n    f: 2006-01-02T15:04:05Z07:00\n    g: "2001-12-14"\n`,
  );
});

Deno.test("engine: toJson sorts keys and escapes <, >, & like encoding/json; toRawJson does not", async () => {
  assertEquals(
    await renderOne(`{{ toJson (dict "b" 1 "a" (dict "z" 1 "y" "<&>")) }} {{ toRawJson (dict "a" "<") }}`),
    `{"a":{"y":"\\u003c\\u0026\\u003e","z":1},"b":1} {"a":"<"}`,
  );
});

Deno.test("engine: regexReplaceAll expands $1x as the group named 1x, like Go", async () => {
  assertEquals(await renderOne(`{{ regexReplaceAll "(a)(b)" "xab" "$1x\${2}y$$" }}`), "xby$");
  assertEquals(await renderOne(`{{ mustRegexReplaceAllLiteral "a+" "baaa" "$1" }}`), "b$1");
});

Deno.test("engine: values parsed as Helm does — 1:20 a string, 0o17 is 15, y/n booleans, .inf refused", () => {
  assertEquals(parseValues("a: 1:20\nb: 0o17\nc: 017\nd: y\n", "v.yaml"), { a: "1:20", b: 15, c: 15, d: true });
  assertThrows(() => parseValues("x: .inf\n", "v.yaml"), /v\.yaml: invalid values: json: unsupported value: Infinity/);
});

Deno.test("engine: the rest of Sprig — tuple, urlParse/urlJoin, duration, toDate, wrapWith, abbrevboth", async () => {
  assertEquals(
    await renderOne(
      `{{ tuple 1 2 }} {{ (urlParse "https://u:p@h.io:8/a/b?q=1#f").hostname }} ` +
        `{{ urlJoin (dict "scheme" "http" "host" "h" "path" "/p" "query" "x=1") }} {{ duration 95 }} {{ duration "95" }} ` +
        `{{ durationRound "2h5m" }} {{ (toDate "2006-01-02" "2024-03-04").Year }} {{ wrapWith 5 "\\t" "Hello World" | quote }} ` +
        `{{ abbrevboth 5 10 "1234 5678 9123" }}`,
    ),
    `[1 2] h.io http://h/p?x=1 0s 1m35s 2h 2024 "Hello\\tWorld" ...5678...`,
  );
});

Deno.test("engine: toYaml folds long values past column 80 as yaml.v2 does (plain, quoted, in lists)", async () => {
  const words = "aaaa bbbb cccc dddd eeee ffff gggg hhhh iiii jjjj kkkk llll mmmm nnnn oooo pppp qqqq rrrr";
  const out = await renderOne(
    `{{ toYaml (dict "long" .Values.w "q" (printf "x: %s" .Values.w) "l" (list .Values.w)) }}`,
    `w: ${words}\n`,
  );
  assertEquals(
    out,
    "l:\n- aaaa bbbb cccc dddd eeee ffff gggg hhhh iiii jjjj kkkk llll mmmm nnnn oooo pppp\n  qqqq rrrr\n" +
      "long: aaaa bbbb cccc dddd eeee ffff gggg hhhh iiii jjjj kkkk llll mmmm nnnn oooo pppp\n  qqqq rrrr\n" +
      "q: 'x: aaaa bbbb cccc dddd eeee ffff gggg hhhh iiii jjjj kkkk llll mmmm nnnn oooo\n  pppp qqqq rrrr'",
  );
});

Deno.test("engine: fromYaml of toYaml output ends a final block scalar without a line break, as libyaml does", async () => {
  assertEquals(
    await renderOne(
      `{{ (fromYaml (toYaml (dict "a" "x\\n"))).a | quote }} {{ (fromYaml (toYaml (dict "a" "x\\n" "b" "y\\n"))).a | quote }}`,
    ),
    `"x" "x\\n"`,
  );
});
