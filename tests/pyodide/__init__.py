"""The pyodide tier: ipyws's wheel in Pyodide, under Node and in Chromium."""
