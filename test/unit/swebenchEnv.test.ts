import { describe, expect, it } from 'vitest';
import { environmentYmlRequirements, installExtras, requirementLines, suiteForPython, treeEditSteps } from '../../sandbox/swebenchEnv';

describe('suiteForPython', () => {
  it('takes the suite of the same Python when there is one', () => {
    expect(suiteForPython('3.9')).toEqual({ suite: 'bullseye', python: '3.9' });
    expect(suiteForPython('3.11')).toEqual({ suite: 'bookworm', python: '3.11' });
    expect(suiteForPython('3.13')).toEqual({ suite: 'trixie', python: '3.13' });
  });
  it('takes the nearest otherwise, the older on a tie, and says what it substituted', () => {
    expect(suiteForPython('3.6')).toEqual({ suite: 'bullseye', python: '3.9', substitutedFor: '3.6' });
    expect(suiteForPython('3.10')).toEqual({ suite: 'bullseye', python: '3.9', substitutedFor: '3.10' });
    expect(suiteForPython('3.12')).toEqual({ suite: 'bookworm', python: '3.11', substitutedFor: '3.12' });
    expect(suiteForPython('3.14')).toEqual({ suite: 'trixie', python: '3.13', substitutedFor: '3.14' });
  });
});

describe('requirement lines', () => {
  it('keeps pins and names, drops comments, options and editable installs', () => {
    expect(requirementLines('# dev\nattrs>=19.2.0\n-e .\n--index-url x\n\npytest==7.0  # pinned\n.[test]\n')).toEqual(['attrs>=19.2.0', 'pytest==7.0']);
  });
  it('reads the pip-installable part of an environment.yml', () => {
    const yml = 'name: testbed\nchannels:\n  - conda-forge\ndependencies:\n  - python=3.9\n  - numpy=1.21\n  - pip\n  - pip:\n    - hypothesis==6.0\n    - pytest\n';
    expect(environmentYmlRequirements(yml)).toEqual(['numpy==1.21', 'hypothesis==6.0', 'pytest']);
  });
});

describe('installExtras', () => {
  it('reads the extras an install asks of the repository itself', () => {
    expect(installExtras("python -m pip install -e '.[dev]'")).toEqual(['dev']);
    expect(installExtras('pip install -e .[test, docs]')).toEqual(['test', 'docs']);
    expect(installExtras('python -m pip install -e .')).toEqual([]);
    expect(installExtras(undefined)).toEqual([]);
  });
});

describe('treeEditSteps (pre_install steps the host applies to its copy before reading dependencies)', () => {
  it("keeps sed/grep edits of the tree, with patterns that hold < and > (sphinx's pins)", () => {
    const steps = [
      "sed -i 's/pytest/pytest -rA/' tox.ini",
      "sed -i 's/Jinja2>=2.3/Jinja2<3.0/' setup.py",
      `sed -i "s/'packaging',/'packaging', 'markupsafe<=2.0.1',/" setup.py`,
      "grep -q 'sphinxcontrib-htmlhelp>=2.0.0' setup.py && sed -i 's/a/b/' setup.py || sed -i 's/c/d/' setup.py",
    ];
    expect(treeEditSteps(steps)).toEqual(steps);
  });
  it('leaves everything else to the image: installs, redirections, pipes, paths outside the tree', () => {
    expect(treeEditSteps([
      'apt-get update && apt-get install -y graphviz',
      "sed -i 's/a/b/' x > y",
      "cat x | sed -i 's/a/b/' y",
      "sed -i 's/a/b/' /etc/hosts",
      "sed -i 's/a/b/' ../setup.py",
      "sed -i \"s/a/$(id)/\" setup.py",
      'python -m pip install numpy',
    ])).toEqual([]);
    expect(treeEditSteps(undefined)).toEqual([]);
  });
});
