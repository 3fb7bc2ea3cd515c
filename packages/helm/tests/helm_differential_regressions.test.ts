/**
 * What the differential test (helm_differential.test.ts) found, each kept as a plain
 * regression: the template and what Go's text/template + Sprig render (from the oracle), or Go's error.
 */
import { deepStrictEqual as assertEquals, ok as assert } from "node:assert/strict";
import { loadChart } from "../src/chart.ts";
import { renderChart } from "../src/render.ts";
import { packChart } from "../../../tests/helpers/helm.ts";

// Not kept: a substr/trunc that cuts a multi-byte character (Go keeps the raw bytes; our strings are Unicode, so
// the cut bytes become U+FFFD).
// fromyaml: Helm's words (sigs.k8s.io/yaml prefixes "error unmarshaling JSON: while decoding JSON: "); the oracle
// calls encoding/json directly and prints only the rest.
const CASES: Record<string, { text: string; output?: string; error?: string }> = {
  "tostrings": { text: '{{ list 7 nil "a" | toStrings | join "+" }}', output: "7+a" },
  // Go quotes (`%q`, strconv.Quote) every code point unicode.IsPrint refuses: spaces other than ASCII's, format
  // characters, private use; an integer that is no code point is U+FFFD (seed 3, after the grammar grew).
  "quoteprint": {
    text: '{{ printf "%q|%q|%q|%q|%q|%q|%q" 1000000 128512 -1 55296 1114112 160 173 }}' +
      '{{ printf "%q" "a\u00a0b\u200bc\ue000d😀\u0301e\u3000f" }}{{ "x\u00a0y" | printf "%#v" }}',
    output: "'\\U000f4240'|'😀'|'\ufffd'|'\ufffd'|'\ufffd'|'\\u00a0'|'\\u00ad'" +
      '"a\\u00a0b\\u200bc\\ue000d😀\u0301e\\u3000f""x\\u00a0y"',
  },
  // libyaml writes `|2` for a value that starts with a space or a line break, at any depth, and its empty lines
  // empty (seed 4, after the grammar grew).
  "blockindicator": {
    text: '{{ toYaml "\\n a" }}|{{ toYaml "\\n\\na" }}|{{ toYaml (dict "k" "\\n a") }}|{{ toYaml (list " x\\ny") }}|' +
      '{{ toYaml (dict "k" (dict "j" " x\\ny")) }}|{{ toYaml (list (dict "k" "\\n\\n x\\n")) }}',
    output: "|2-\n\n   a||2-\n\n\n  a|k: |2-\n\n   a|- |2-\n   x\n  y|k:\n  j: |2-\n     x\n    y|- k: |2\n\n\n     x",
  },
  // Zero padding after the sign for numbers only (a string or bool is zero-filled plainly), and Sprig's int64 math
  // wraps around at 64 bits (seed 6, after the grammar grew).
  "zeropadwrap": {
    text: '{{ printf "%03d|%05v|%05s|%-4d|%05d|%+05d|%05.1f|%05v|%06q|%05t" (toJson -1) "-12" "-3" -5 -42 7 -2.5 -9 ' +
      '"a" true }}|{{ mul 2 (int64 12345678901234567890.0) }}|{{ add 9223372036854775807 1 }}|' +
      "{{ sub -9223372036854775808 1 }}|{{ div -9223372036854775808 -1 }}|{{ mod -9223372036854775808 -1 }}|" +
      "{{ add1 9223372036854775807 }}|{{ mul (len (list 1 2)) 1.2345678901234567e19 }}",
    output: '%!d(string=0-1)|00-12|000-3|-5  |-0042|+0007|-02.5|-0009|000"a"|0true|0|-9223372036854775808|' +
      "9223372036854775807|-9223372036854775808|0|-9223372036854775808|0",
  },
  // encoding/json and yaml.v2 write an int64 with all its digits: `toJson`/`toYaml` kept ints as doubles, so
  // 9223372036854775807 came out as 9223372036854776000 (seed 1, after the grammar grew with batch 2's constructs).
  "int64full": {
    text: "{{ sub -9223372036854775808 1 | toYaml }}|{{ add 9223372036854775806 1 | toJson }}|" +
      '{{ dict "k" (sub -9223372036854775808 0) "f" 1.5 | toYaml }}|{{ list 9007199254740993 | toJson }}|' +
      '{{ dict "k" 9007199254740993 | toPrettyJson }}|{{ list (int64 3) | toRawJson }}',
    output: "9223372036854775807|9223372036854775807|f: 1.5\nk: -9223372036854775808|[9007199254740993]|" +
      '{\n  "k": 9007199254740993\n}|[3]',
  },
  // xstrings' ToCamelCase, rune by rune: connectors are `-`, `_` and spaces, every rune not after one goes down
  // (seed 10 at 30000 cases: a timestamp's `T` became `t` in Go).
  "camelcase": {
    text: '{{ range list "HTTPServer" "fooBar" "foo_Bar" "ab_" "a__b" "_a" "ÄÖü" "x" "" "a  b" "_" " x" "aB-CD" ' +
      '"x\ty" "2001-12-14T21:59:43.10-05:00" "a.b-c" "1-2" }}{{ camelcase . }}|{{ end }}',
    output: "Httpserver|Foobar|FooBar|Ab_|A_B|_A|Äöü|X||A B|__| X|AbCd|XY|20011214t21:59:43.1005:00|A.bC|12|",
  },
  // Sprig's round takes math.Modf's fraction, negative below zero, so negatives always go down; and a float's -0
  // (`ceil -0.5`) keeps its sign in fmt and encoding/json, while toYaml reads it back as 0 (seed 10, 30000 cases).
  "negativezero": {
    text: "{{ round -0.4 0 }}|{{ round -2.5 0 }}|{{ round 2.5 0 }}|{{ round -1.25 1 }}|{{ round 1.25 1 }}|" +
      '{{ printf "%.1f|%v|%5.1f|%+.0f" (ceil -0.5) (ceil -0.5) (ceil -0.5) (ceil -0.5) }}|{{ ceil -0.5 | toJson }}|' +
      '{{ list (ceil -0.5) 1.5 | toYaml }}|{{ dict "k" (ceil -0.5) | toRawJson }}',
    output: '-1|-3|3|-1.3|1.3|-0.0|-0| -0.0|-0|-0|- 0\n- 1.5|{"k":-0}',
  },
  // goutils.WrapCustom walks the whole text, a line break in it being an ordinary byte; and cast.ToFloat64 parses a
  // string as strconv.ParseFloat does: no surrounding space, no 0x/0b integers, underscores between digits (seed 11,
  // 30000 cases).
  "wrapfloat": {
    text: '{{ wrap 5 "hello world: .\\nk: ." }}|{{ wrap 3 "abcdefgh ij k" }}|{{ wrapWith 3 "<br>" "abcdefgh ij k" }}|' +
      '{{ wrap 4 "  lead  spaces here" }}|{{ floor " 7" }}|{{ floor "0x10" }}|{{ floor "1e2" }}|{{ float64 "inf" }}|' +
      '{{ float64 "1_000" }}|{{ float64 "5." }}|{{ float64 "0b101" }}',
    output:
      "hello\nworld:\n.\nk:\n.|abcdefgh\nij\nk|abc<br>def<br>gh<br>ij<br>k|lead\nspaces\nhere|0|0|100|+Inf|1000|5|0",
  },
  // Sprig's dig asserts its last argument to a map: nil there fails (seed 12, 30000 cases).
  "dignil": {
    text: '{{ dig "a" "b" .Values.nul }}',
    error: "interface conversion: interface {} is nil, not map[string]interface {}",
  },
  // mergo into split's map[string]string: reflect refuses each element of a map[string]interface{} (seed 9).
  "mergetyped": {
    text: '{{ merge (dict "k" (split "," "Bar") "a" 1) (dict "k" (dict "_0" "z" "x" nil)) | toJson }}|' +
      '{{ mergeOverwrite (dict "k" (split "," "Bar")) (dict "k" (split "," "Q,R")) | toJson }}',
    output: '{"a":1,"k":{"_0":"Bar"}}|{"k":{"_0":"Q","_1":"R"}}',
  },
  "mergetypedset": {
    text: '{{ mergeOverwrite (dict "k" (split "," "Bar")) (dict "k" (dict "_0" "z")) | toJson }}',
    error: "reflect.Value.SetMapIndex: value of type interface {} is not assignable to type string",
  },
  "appendnil": {
    text: "{{ append .Values.nul 1 }}",
    error: "runtime error: invalid memory address or nil pointer dereference",
  },
  "deepcopynil": { text: "{{ deepCopy .Values.nul }}", error: "reflect: call of reflect.Value.Type on zero Value" },
  "argcount": { text: "{{ round 1.5 }}", error: "wrong number of args for round: want at least 2 got 1" },
  "badverb": {
    text: '{{ printf "%6.1f|%d|%t" (dict "k" nil "m" (list 1 3)) "b" 1.5 }}{{ printf "%s" "a" nil }}',
    output:
      "map[%!f(string=     k):<nil> %!f(string=     m):[%!f(int=     1) %!f(int=     3)]]|%!d(string=b)|%!t(float64=1.5)a%!(EXTRA <nil>)",
  },
  "chunknil": {
    text: "{{ chunk 2 .Values.nul }}",
    error: "error calling chunk: runtime error: invalid memory address or nil pointer dereference",
  },
  "concatnil": {
    text: "{{ concat (list 1) .Values.nul }}",
    error: "error calling concat: runtime error: invalid memory address or nil pointer dereference",
  },
  "fieldnil": {
    text: '{{ hasKey .Values.nul "a" }}',
    error: "wrong type for value; expected map[string]interface {}; got interface {}",
  },
  "fromyaml": {
    text: '{{ (fromYaml "- 1") | toJson }}|{{ (fromYaml "k: .\\ne: 1e3\\no: 0o17") | toJson }}',
    output:
      '{"Error":"error unmarshaling JSON: while decoding JSON: json: cannot unmarshal array into Go value of type map[string]interface {}"}|{"e":1000,"k":".","o":15}',
  },
  "merge": {
    text:
      '{{ mergeOverwrite (dict "k" 7 "a" 1 "l" (list 1)) (dict "a" "" "k" nil "l" (list)) | toJson }}|{{ merge (dict "a" "" "m" "x") (dict "a" "y" "m" (dict "z" 1)) | toJson }}',
    output: '{"a":"","k":null,"l":[]}|{"a":"y","m":"x"}',
  },
  "negzero": { text: "{{ mulf 0 -2.25 }} {{ ceil -0.5 }}", output: "0 -0" },
  "nindent": { text: '{{ nindent -2 "b" }}', error: "error calling nindent: strings: negative Repeat count" },
  "overflow": { text: "{{ add (int64 12345678901234567890.0) 120 }}", output: "-9223372036854775688" },
  "pipenil": { text: '{{ hasKey (.Values.nul) "a" }}', output: "false" },
  "printf": {
    text:
      '{{ printf "%05s|%-05d|%05q|%05t|%5.1f|%5d|%x|%X|%q|%#v|%+v|%U|%.2g|%e" "b" 3 "x" true 2.25 (list 1 "a" nil) 5.0 0.5 28 (dict "a" 1 "b" (list "x" true)) 26 -194 1234.0 1234.5678 }}',
    output:
      '0000b|3    |00"x"|0true|  2.2|[    1 %!d(string=    a) <nil>]|0x1.4p+02|0X1P-01|\'\\x1c\'|map[string]interface {}{"a":1, "b":[]interface {}{"x", true}}|26|U+FFFFFFFFFFFFFF3E|1.2e+03|1.234568e+03',
  },
  "substr": {
    text: '{{ substr 2 0 "foo" }}',
    error: "error calling substr: runtime error: slice bounds out of range [2:0]",
  },
  "toyaml": {
    text: '{{ toYaml (dict "dot" "." "u" "_0" "q" "\'false\'" "s" "1:20" "y" "yes" "n" "09") }}',
    output: 'dot: .\n"n": "09"\nq: \'\'\'false\'\'\'\ns: "1:20"\nu: _0\n"y": "yes"',
  },
  "typed": {
    text:
      '{{ splitList "," "a,b" | typeOf }} {{ until 2 | typeOf }} {{ split "," "a" | typeOf }} {{ chunk 1 (list 1) | typeOf }} {{ deepCopy (split "," "a") | typeOf }} {{ keys (dict "a" 1) | typeOf }}',
    output: "[]string []int map[string]string [][]interface {} map[string]string []string",
  },
  "until": {
    text: "{{ until -2 }}{{ untilStep 0 7 2 }}{{ untilStep 5 0 -2 }}{{ untilStep 5 0 2 }}",
    output: "[0 -1][0 2 4 6][5 3 1][]",
  },
  "regexempty": {
    text:
      '{{ regexReplaceAll "a*" "baaac" "X" }}|{{ regexFindAll "a*" "baaac" -1 }}|{{ regexSplit "a*" "baaac" -1 }}|{{ regexSplit "(,)" "a,b" -1 }}|{{ regexSplit "," "a,b,c" 2 }}|{{ regexReplaceAllLiteral "x*" "abc" "-" }}|{{ regexReplaceAll "[a-z]" "" "<$1>" }}',
    output: "XbXcX|[ aaa ]|[b c]|[a b]|[a b,c]|-a-b-c-|",
  },
  "indexsplit": {
    text:
      '{{ index (split "," " pad ") "k" | toString | toYaml }}|{{ index (dict "a" 1) "k" }}|{{ regexReplaceAll "[a-z]" (index (split "," "x") "k") "<$1>" }}',
    output: '""||',
  },
  "includenil": {
    text:
      '{{- define "d" -}}[{{ .Values.v.x }}|{{ omit .Values.x "k" }}|{{ . }}]{{- end -}}{{ include "d" .Values.nul }}{{ include "d" .Values.missing }}{{ template "d" .Values.nul }}{{ include "d" .Values.nul | len }}',
    output: "[|map[]|][|map[]|][|map[]|]29",
  },
  "restnil": {
    text: "{{ rest .Values.nul }}",
    error: "error calling rest: runtime error: invalid memory address or nil pointer dereference",
  },
  "firstnil": {
    text: "{{ first .Values.missing }}",
    error: "error calling first: runtime error: invalid memory address or nil pointer dereference",
  },
  "reversenil": {
    text: "{{ reverse .Values.nul }}",
    error: "error calling reverse: runtime error: invalid memory address or nil pointer dereference",
  },
  "withoutnil": {
    text: "{{ without .Values.nul 1 }}",
    error: "error calling without: runtime error: invalid memory address or nil pointer dereference",
  },
  "hasnil": {
    text: "{{ has 1 .Values.nul }}",
    output: "false",
  },
  "yamlfold": {
    text:
      '{{ toYaml "3MAP[B:-1 K:2001-12-14]|%!S(MISSING)|%!D(MISSING)|%!Q(MISSING)|%!T(MISSING)|%!X(MISSING) [0 3 6]" }}|{{ toYaml "yes aaaaaaaaa aaaaaaaaaaaaaaa aaaaaaaaaaaaaaaaaaaa aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa  bbbbbbbbbbbbbbb cccccccccccc  " }}|{{ toYaml (dict "k" "yes aaaaaaaaa aaaaaaaaaaaaaaa aaaaaaaaaaaaaaaaaaaa aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa  bbbbbbbbbbbbbbb c") }}',
    output:
      "3MAP[B:-1 K:2001-12-14]|%!S(MISSING)|%!D(MISSING)|%!Q(MISSING)|%!T(MISSING)|%!X(MISSING)\n  [0 3 6]|'yes aaaaaaaaa aaaaaaaaaaaaaaa aaaaaaaaaaaaaaaaaaaa aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa  bbbbbbbbbbbbbbb\n  cccccccccccc  '|k: yes aaaaaaaaa aaaaaaaaaaaaaaa aaaaaaaaaaaaaaaaaaaa aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa  bbbbbbbbbbbbbbb\n  c",
  },
  "snakecase": {
    text:
      '{{ snakecase "MjAwMS0xMi0xNA==" }}|{{ snakecase "HTTPStatus" }}|{{ snakecase "Bld4Floor" }}|{{ snakecase "HTTP2xx" }}|{{ snakecase "__a b-C" }}|{{ kebabcase "FirstName last_name" }}|{{ snakecase "v2.0.0-rc.1+b" }}|{{ snakecase "1a2B3 4 五六Ab" }}|{{ kebabcase " pad " }}|{{ snakecase "x  -Y" }}',
    output:
      "mj_aw_ms_0x_mi_0x_na_==|http_status|bld4_floor|http_2xx|__a_b_c|first-name-last-name|v2.0.0_rc.1_+_b|1a2_b3_4_五六_ab|-pad-|x___y",
  },
  "wrongtype": { text: "{{ upper 1 }}", error: "expected string; found 1" },
  "wrongtype2": {
    text: '{{ hasKey (split "," "a") "_0" }}',
    error: "wrong type for value; expected map[string]interface {}; got map[string]string",
  },
};

Deno.test("differential regressions: each template renders (or fails) as Go's text/template + Sprig", async () => {
  const files: Record<string, string> = {
    "Chart.yaml": "apiVersion: v2\nname: r\nversion: 0.1.0\n",
    "values.yaml": "nul: ~\nm: {k: v}\n",
  };
  for (const [name, c] of Object.entries(CASES)) files[`templates/${name}.yaml`] = c.text;
  const rendered = renderChart(await loadChart(await packChart("r", files)), {}).templates;
  for (const [name, c] of Object.entries(CASES)) {
    const t = rendered.find((r) => r.template === `r/templates/${name}.yaml`)!;
    if (c.output !== undefined) assertEquals(t.output, c.output, `${name}: ${t.error?.message ?? ""}`);
    else assert(t.error !== undefined, `${name} must fail as in Go (${c.error}), rendered ${JSON.stringify(t.output)}`);
  }
});

Deno.test("differential regressions: a value made to contain itself fails its template (Go overflows its stack)", async () => {
  const files = {
    "Chart.yaml": "apiVersion: v2\nname: r\nversion: 0.1.0\n",
    "values.yaml": "m: {}\n",
    "templates/a.yaml": '{{ merge (dict "k" .Values.m) (dict "k" (dict "0" .Values.m)) }}',
  };
  const [t] = renderChart(await loadChart(await packChart("r", files)), {}).templates;
  assert(t.error !== undefined && t.output === undefined, `rendered ${JSON.stringify(t.output)}`);
});
