import { describe, expect, it } from 'vitest';
import { descendants, parseXml, XmlError } from './xml.js';

describe('parseXml', () => {
  it('reads elements, attributes in both quotes, text, CDATA, entities and namespaces', () => {
    const root = parseXml(
      '\ufeff<?xml version="1.0" encoding="utf-8"?>\n<!DOCTYPE x>\n<!-- c -->\n' +
        '<a:root xmlns:a="urn:x" one="1" two=\'t&amp;&lt;&#65;&#x42;\'>\n' +
        '  <child>hello &quot;you&quot;</child><empty/>\n' +
        '  <child><![CDATA[<raw> & ]]]]><![CDATA[>]]></child>\n' +
        '</a:root>\n',
    );
    expect(root.name).toBe('root');
    expect(root.attributes).toEqual({ a: 'urn:x', one: '1', two: 't&<AB' });
    expect(root.children.map((c) => [c.name, c.text])).toEqual([
      ['child', 'hello "you"'],
      ['empty', ''],
      ['child', '<raw> & ]]>'],
    ]);
  });

  it('finds descendants in document order', () => {
    const root = parseXml('<r><s><c n="1"/><s><c n="2"/></s></s><c n="3"/></r>');
    expect(descendants(root, 'c').map((c) => c.attributes.n)).toEqual(['1', '2', '3']);
  });

  it.each([
    ['', 'no root element'],
    ['<a>', "line 1, column 4: element 'a' is never closed"],
    ['<a></b>', "line 1, column 4: closing tag 'b' does not match"],
    ['<a x=1/>', "attribute 'x' needs a quoted value"],
    ['<a x="1"y="2"/>', 'expected a space before the attribute'],
    ['<a>&nbsp;</a>', "unknown entity '&nbsp;'"],
    ['<a>AT&T</a>', "'&' must start an entity"],
    ['<a/><b/>', 'a second root element'],
    ['text', 'text outside the root element'],
    ['<!DOCTYPE a [<!ENTITY x "y">]><a/>', 'a DOCTYPE with an internal subset is not read'],
    ['<a>\n  <b x="<"/></a>', "line 2, column 9: '<' in the value of attribute 'x'"],
    ['<a><!-- open</a>', "'<!--' is never closed"],
    ['<a>&#0;</a>', 'invalid character reference'],
  ])('refuses %j: %s', (text, message) => {
    expect(() => parseXml(text)).toThrow(XmlError);
    expect(() => parseXml(text)).toThrow(message);
  });

  it('reads a deep document without recursion limits', () => {
    const depth = 20_000;
    const root = parseXml(`${'<a>'.repeat(depth)}x${'</a>'.repeat(depth)}`);
    expect(root.name).toBe('a');
  });
});
