/** Types for the parse-prometheus-text-format test dependency (the package ships none). */
declare module "parse-prometheus-text-format" {
  export default function parsePrometheusTextFormat(text: string): unknown[];
}
