import Balance from './balance';

export default function BalancePage() {
  return (
    <main>
      <h1>Credits</h1>
      <Balance />
    </main>
  );
}
