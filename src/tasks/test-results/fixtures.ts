/** Result files of each format, as the tools write them: for the parsers' and the task's tests. */
export const JUNIT = `<?xml version="1.0"?>
<testsuites time="2.5">
  <testsuite name="math" tests="4">
    <testcase classname="math.Add" name="adds" time="0.5"/>
    <testcase classname="math.Add" name="overflows" time="1.0">
      <failure message="expected 3 but got 4" type="AssertionError">at add (math.js:3)</failure>
    </testcase>
    <testcase name="divides" time="0.25"><error>Division by zero</error></testcase>
    <testcase classname="math.Add" name="later"><skipped message="not yet"/></testcase>
  </testsuite>
</testsuites>`;

export const NUNIT3 = `<test-run id="2" result="Failed" duration="1.5">
  <test-suite type="Assembly"><test-suite type="TestFixture">
    <test-case name="Passes" fullname="Lib.Tests.Passes" result="Passed" duration="0.1"/>
    <test-case name="Fails" fullname="Lib.Tests.Fails" result="Failed" duration="0.2">
      <failure><message><![CDATA[Expected: 1
  But was: 2]]></message><stack-trace>at Lib.Tests.Fails()</stack-trace></failure>
    </test-case>
    <test-case name="Ignored" fullname="Lib.Tests.Ignored" result="Skipped"><reason><message>slow</message></reason></test-case>
  </test-suite></test-suite>
</test-run>`;

export const NUNIT2 = `<test-results name="x" total="3" failures="1">
  <test-suite name="Lib" time="0.75" executed="True">
    <results>
      <test-case name="Lib.A" executed="True" result="Success" success="True" time="0.1"/>
      <test-case name="Lib.B" executed="True" result="Failure" success="False" time="0.2">
        <failure><message>boom</message><stack-trace>at B</stack-trace></failure>
      </test-case>
      <test-case name="Lib.C" executed="False" result="Ignored"><reason><message>later</message></reason></test-case>
    </results>
  </test-suite>
</test-results>`;

export const XUNIT2 = `<assemblies><assembly name="a.dll" time="0.9" total="3">
  <collection name="c">
    <test name="T.Pass" type="T" method="Pass" time="0.1" result="Pass"/>
    <test name="T.Fail" type="T" method="Fail" time="0.3" result="Fail">
      <failure exception-type="Xunit.Sdk.EqualException"><message>Assert.Equal() Failure</message><stack-trace>at T.Fail()</stack-trace></failure>
    </test>
    <test name="T.Skip" type="T" method="Skip" time="0" result="Skip"><reason><![CDATA[flaky]]></reason></test>
  </collection>
</assembly></assemblies>`;

export const TRX = `<?xml version="1.0" encoding="UTF-8"?>
<TestRun id="1" xmlns="http://microsoft.com/schemas/VisualStudio/TeamTest/2010">
  <Times creation="2024-01-01T10:00:00.000Z" start="2024-01-01T10:00:00.000Z" finish="2024-01-01T10:00:02.500Z"/>
  <Results>
    <UnitTestResult testName="Passes" outcome="Passed" duration="00:00:00.1500000"/>
    <UnitTestResult testName="Fails" outcome="Failed" duration="00:00:01.0000000">
      <Output><ErrorInfo><Message>Assert.AreEqual failed. Expected:&lt;1&gt;. Actual:&lt;2&gt;.</Message><StackTrace>at Fails()</StackTrace></ErrorInfo></Output>
    </UnitTestResult>
    <UnitTestResult testName="Skipped" outcome="NotExecuted"/>
  </Results>
</TestRun>`;
