/** Summaries as the tools write them, trimmed. */
export const COBERTURA = `<?xml version="1.0" ?>
<!DOCTYPE coverage SYSTEM "http://cobertura.sourceforge.net/xml/coverage-04.dtd">
<coverage line-rate="0.8" branch-rate="0.5" lines-covered="8" lines-valid="10" branches-covered="1" branches-valid="2" complexity="0" version="7.4" timestamp="1700000000">
  <sources><source>/src</source></sources>
  <packages>
    <package name="app" line-rate="0.8" branch-rate="0.5">
      <classes>
        <class name="math.py" filename="app/math.py" line-rate="0.8" branch-rate="0.5">
          <lines><line number="1" hits="1"/><line number="2" hits="0" branch="true" condition-coverage="50% (1/2)"/></lines>
        </class>
      </classes>
    </package>
  </packages>
</coverage>
`;

/** Cobertura 1.9: rates only, the lines counted. */
export const COBERTURA_OLD = `<coverage line-rate="0.5" branch-rate="0.25">
  <packages><package name="p"><classes>
    <class name="A" filename="A.java"><lines>
      <line number="1" hits="3"/>
      <line number="2" hits="0" branch="true" condition-coverage="25% (1/4)"/>
    </lines></class>
  </classes></package></packages>
</coverage>`;

export const JACOCO = `<?xml version="1.0" encoding="UTF-8" standalone="yes"?>
<!DOCTYPE report PUBLIC "-//JACOCO//DTD Report 1.1//EN" "report.dtd">
<report name="demo">
  <sessioninfo id="s" start="1" dump="2"/>
  <package name="demo">
    <class name="demo/App"><counter type="LINE" missed="1" covered="1"/></class>
    <counter type="LINE" missed="3" covered="9"/>
    <counter type="BRANCH" missed="2" covered="2"/>
  </package>
  <counter type="INSTRUCTION" missed="10" covered="90"/>
  <counter type="BRANCH" missed="2" covered="2"/>
  <counter type="LINE" missed="3" covered="9"/>
  <counter type="METHOD" missed="1" covered="4"/>
</report>
`;
