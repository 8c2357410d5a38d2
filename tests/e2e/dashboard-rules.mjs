// Turns every PromQL query of a Grafana dashboard into a Prometheus recording rule, so that
// `promtool check rules` validates them. Grafana's own variables become what Grafana would
// put in their place.
//   node dashboard-rules.mjs DASHBOARD.json > rules.yml
import { readFileSync } from 'node:fs';

const dashboard = JSON.parse(readFileSync(process.argv[2], 'utf8'));
const grafanaVariables = { $__rate_interval: '1m', $__interval: '15s', $__range: '1h' };
const rules = [];
const visit = (panels) => {
  for (const panel of panels ?? []) {
    visit(panel.panels);
    for (const target of panel.targets ?? []) {
      let expr = target.expr;
      for (const [name, value] of Object.entries(grafanaVariables)) expr = expr.split(name).join(value);
      if (expr.includes('$')) throw new Error(`panel "${panel.title}": unknown variable in ${expr}`);
      rules.push({ record: `dashboard:panel_${panel.id}_${target.refId}`, expr, title: panel.title });
    }
  }
};
visit(dashboard.panels);
if (rules.length === 0) throw new Error('no queries in the dashboard');
// JSON strings are valid YAML scalars.
console.log('groups:\n  - name: dashboard\n    rules:');
for (const rule of rules) {
  console.log(`      # ${rule.title}\n      - record: ${rule.record}\n        expr: ${JSON.stringify(rule.expr)}`);
}
